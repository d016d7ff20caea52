with source as (
    select * from {{ source('raw', 'crm_contacts') }}
),

renamed as (
    select
        contact_id,
        account_id,
        created_at,
        title,
        lower(trim(email)) as email,
        case
            when title is null then 'unknown'
            when lower(title) like '%chief%' or lower(title) like '%ceo%' or lower(title) like '%cfo%'
                or lower(title) like '%cto%' or lower(title) like '%coo%' or lower(title) like '%cio%'
                or lower(title) like '%founder%' or lower(title) like '%president%'
                or lower(title) like '%owner%' then 'executive'
            when lower(title) like 'vp%' or lower(title) like '%vice president%'
                or lower(title) like '%head of%' or lower(title) like '%director%' then 'senior'
            when lower(title) like '%manager%' or lower(title) like '%lead%' then 'manager'
            else 'individual'
        end as seniority
    from source
)

select * from renamed
