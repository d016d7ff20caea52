{#- Recent engagement per account and snapshot (int_reference_date): activities in the last 30 and 90 days by type, last activity, contacts
    and their seniority, and decayed engagement points (an activity counts half after the half-life). -#}
{%- set types = ['email', 'call', 'meeting', 'web_visit', 'content', 'event', 'other'] -%}
{%- set weights = {'email': 1.0, 'call': 2.0, 'meeting': 4.0, 'web_visit': 0.5, 'content': 1.0, 'event': 2.0, 'other': 0.5} -%}
{%- set points -%}
    case when age_days <= {{ var('engagement_window_days') }} then
        case activity_type
        {%- for t, w in weights.items() %}
            when '{{ t }}' then {{ w }}
        {%- endfor %}
            else 0.5 end
        * exp(-ln(2) * age_days / {{ var('engagement_half_life_days') }})
    else 0 end
{%- endset %}
with activities as (
    select * from {{ ref('stg_crm__activities') }}
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

ref_date as (
    select snapshot, as_of from {{ ref('int_reference_date') }}
),

aged as (
    select r.snapshot, a.*, {{ dbt.datediff('a.occurred_at', 'r.as_of', 'day') }} as age_days
    from activities as a
    inner join ref_date as r on a.occurred_at <= r.as_of
),

per_account as (
    select
        snapshot,
        account_id,
        count(case when age_days <= 30 then 1 end) as activities_30d,
        count(case when age_days <= 90 then 1 end) as activities_90d,
        {%- for t in types %}
        count(case when age_days <= 90 and activity_type = '{{ t }}' then 1 end) as {{ t }}_90d,
        {%- endfor %}
        max(occurred_at) as last_activity_at,
        {{ exact_sum(points, 9) }} as engagement_points
    from aged
    group by snapshot, account_id
),

people as (
    select
        r.snapshot,
        c.account_id,
        count(*) as contacts,
        count(case when seniority = 'executive' then 1 end) as executive_contacts,
        count(case when seniority in ('executive', 'senior') then 1 end) as senior_contacts
    from contacts as c
    inner join ref_date as r on c.created_at is null or c.created_at <= r.as_of
    group by r.snapshot, c.account_id
)

select
    r.snapshot,
    coalesce(p.account_id, pe.account_id) as account_id,
    coalesce(p.activities_30d, 0) as activities_30d,
    coalesce(p.activities_90d, 0) as activities_90d,
    {%- for t in types %}
    coalesce(p.{{ t }}_90d, 0) as {{ t }}_90d,
    {%- endfor %}
    p.last_activity_at,
    {{ dbt.datediff('p.last_activity_at', 'r.as_of', 'day') }} as days_since_last_activity,
    coalesce(p.engagement_points, 0) as engagement_points,
    coalesce(pe.contacts, 0) as contacts,
    coalesce(pe.executive_contacts, 0) as executive_contacts,
    coalesce(pe.senior_contacts, 0) as senior_contacts
from per_account as p
full outer join people as pe on pe.account_id = p.account_id and pe.snapshot = p.snapshot
inner join ref_date as r on r.snapshot = coalesce(p.snapshot, pe.snapshot)
