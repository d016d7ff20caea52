{#- Customer lifetime per account and snapshot (int_reference_date): since when, for how long, and whether and when
    it churned, as known at the snapshot's as_of. With subscriptions, an account is active while one runs; without,
    a won deal makes it a customer. -#}
with subscriptions as (
    select * from {{ ref('stg_billing__subscriptions') }}
),

ref_date as (
    select snapshot, as_of from {{ ref('int_reference_date') }}
),

won as (
    select r.snapshot, o.account_id, min(cast(o.close_date as {{ dbt.type_timestamp() }})) as first_won_at
    from {{ ref('stg_crm__opportunities') }} as o
    inner join ref_date as r on cast(o.close_date as {{ dbt.type_timestamp() }}) <= r.as_of
    where o.is_won and o.opportunity_type = 'new_business'
    group by r.snapshot, o.account_id
),

subs as (
    select
        r.snapshot,
        s.account_id,
        min(s.started_at) as first_started_at,
        max(case when s.ended_at is null or s.ended_at > r.as_of then 1 else 0 end) as has_active,
        max(s.ended_at) as last_ended_at
    from subscriptions as s
    inner join ref_date as r on s.started_at <= r.as_of
    group by r.snapshot, s.account_id
),

combined as (
    select
        coalesce(subs.snapshot, won.snapshot) as snapshot,
        coalesce(subs.account_id, won.account_id) as account_id,
        coalesce(subs.first_started_at, won.first_won_at) as customer_since,
        case
            when subs.account_id is null then true
            else subs.has_active = 1
        end as is_active,
        case when subs.account_id is not null and subs.has_active = 0 then subs.last_ended_at end as churned_at
    from subs
    full outer join won on won.account_id = subs.account_id and won.snapshot = subs.snapshot
)

select
    c.snapshot,
    c.account_id,
    c.customer_since,
    c.is_active,
    c.churned_at is not null as is_churned,
    c.churned_at,
    {{ months_between('c.customer_since', 'coalesce(c.churned_at, r.as_of)') }} as tenure_months,
    case when c.churned_at is not null then {{ months_between('c.customer_since', 'c.churned_at') }} end as months_to_churn
from combined as c
inner join ref_date as r on r.snapshot = c.snapshot
