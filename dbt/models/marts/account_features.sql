{#- One row per account: firmographics, technographics and every account-value feature as of the reference date
    (int_reference_date's `current` snapshot; the state columns are account_state_columns'). -#}
with accounts as (
    select
        *,
        {{ dbt.concat(["';'", "lower(replace(replace(coalesce(technologies, ''), ' ;', ';'), '; ', ';'))", "';'"]) }} as tech_key
    from {{ ref('stg_crm__accounts') }}
),

ref_date as (
    select as_of from {{ ref('int_reference_date') }} where snapshot = 'current'
)

select
    a.account_id,
    a.account_name,
    a.domain,
    a.created_at,
    a.industry,
    a.employee_count,
    a.annual_revenue,
    a.country,
    a.country_code,
    a.region,
    a.founded_year,
    a.lead_source,
    a.owner,
    a.parent_account_id,
    a.technologies,
    {%- for tech in var('common_technologies') %}
    a.tech_key like '%;{{ tech | lower }};%' as {{ tech_flag_name(tech) }},
    {%- endfor %}
    {{ account_state_columns() }},
    r.as_of
from accounts as a
cross join ref_date as r
{{ account_state_joins('a.account_id', 'current') }}
