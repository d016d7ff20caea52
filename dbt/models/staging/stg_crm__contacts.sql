with source as (
    select *, lower(title) as title_key  -- lower-cased once, not once per pattern below
    from {{ source('raw', 'crm_contacts') }}
),

renamed as (
    select
        contact_id,
        account_id,
        created_at,
        title,
        lower(trim(email)) as email,
        case
            when title_key is null then 'unknown'
            when title_key like '%chief%' or title_key like '%ceo%' or title_key like '%cfo%'
                or title_key like '%cto%' or title_key like '%coo%' or title_key like '%cio%'
                or title_key like '%founder%' or title_key like '%president%'
                or title_key like '%owner%' then 'executive'
            when title_key like 'vp%' or title_key like '%vice president%'
                or title_key like '%head of%' or title_key like '%director%' then 'senior'
            when title_key like '%manager%' or title_key like '%lead%' then 'manager'
            else 'individual'
        end as seniority
    from source
)

select * from renamed
