{#- Support load per account and snapshot (int_reference_date): tickets per month of customer tenure, urgent share,
    CSAT, time to solve, over the tickets opened by the snapshot's as_of. -#}
with tickets as (
    select * from {{ ref('stg_support__tickets') }}
),

retention as (
    select snapshot, account_id, tenure_months from {{ ref('int_account_retention') }}
),

ref_date as (
    select snapshot, as_of from {{ ref('int_reference_date') }}
),

per_account as (
    select
        r.snapshot,
        t.account_id,
        count(*) as tickets,
        count(case when t.priority = 'urgent' then 1 end) as urgent_tickets,
        avg(t.csat) as avg_csat,
        avg(case when t.solved_at <= r.as_of then {{ dbt.datediff('t.created_at', 't.solved_at', 'hour') }} end)
            as avg_hours_to_solve
    from tickets as t
    inner join ref_date as r on t.created_at <= r.as_of
    group by r.snapshot, t.account_id
)

select
    p.snapshot,
    p.account_id,
    p.tickets,
    p.tickets / case when coalesce(ret.tenure_months, 0) < 1 then 1 else ret.tenure_months end as tickets_per_month,
    {{ safe_divide('p.urgent_tickets', 'p.tickets') }} as urgent_share,
    p.avg_csat,
    p.avg_hours_to_solve
from per_account as p
left join retention as ret on ret.account_id = p.account_id and ret.snapshot = p.snapshot
