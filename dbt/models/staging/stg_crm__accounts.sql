with source as (
    select * from {{ source('raw', 'crm_accounts') }}
),

countries as (
    select * from {{ ref('country_regions') }}
),

renamed as (
    select
        source.account_id,
        source.account_name,
        source.created_at,
        {{ normalize_domain('source.domain') }} as domain,
        source.industry,
        source.employee_count,
        source.annual_revenue,
        source.country,
        coalesce(by_code.country_code, by_name.country_code) as country_code,
        coalesce(upper(nullif(trim(source.region), '')), by_code.region, by_name.region) as region,
        source.founded_year,
        source.technologies,
        lower(trim(source.lead_source)) as lead_source,
        source.owner,
        source.parent_account_id
    from source
    left join countries as by_code
        on upper(trim(source.country)) = by_code.country_code
        and not by_code.is_alias
    left join countries as by_name
        on lower(trim(source.country)) = lower(by_name.country_name)
)

select * from renamed
