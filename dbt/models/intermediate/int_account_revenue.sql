{#- Revenue per account and snapshot (int_reference_date), as known at the snapshot's as_of: MRR then and a year
    before, paid to date, expansion. -#}
with subscriptions as (
    select * from {{ ref('stg_billing__subscriptions') }}
),

invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

ref_date as (
    select snapshot, as_of, {{ dbt.dateadd('month', -12, 'as_of') }} as year_ago from {{ ref('int_reference_date') }}
),

first_start as (
    select account_id, min(started_at) as first_started_at
    from subscriptions
    group by account_id
),

mrr as (
    select
        r.snapshot,
        s.account_id,
        {{ exact_sum("case when s.ended_at is null or s.ended_at > r.as_of then s.mrr_usd else 0 end") }} as current_mrr,
        {{ exact_sum("case when s.started_at <= r.year_ago and (s.ended_at is null or s.ended_at > r.year_ago)
                 then s.mrr_usd else 0 end") }} as mrr_12m_ago,
        {{ exact_sum("case when s.started_at > " ~ dbt.dateadd('day', 30, 'f.first_started_at') ~ "
                 then s.mrr_usd else 0 end") }} as expansion_mrr,
        count(*) as subscriptions
    from subscriptions as s
    inner join ref_date as r on s.started_at <= r.as_of
    inner join first_start as f on f.account_id = s.account_id
    group by r.snapshot, s.account_id
),

{#- An invoice counts as paid once its payment date has passed (today's status alone would leak a later payment
    into an earlier snapshot). -#}
paid as (
    select
        r.snapshot,
        i.account_id,
        {{ exact_sum("case when i.status = 'paid' and coalesce(i.paid_at, i.issued_at) <= r.as_of
                 then i.amount_usd else 0 end") }} as lifetime_paid_revenue,
        {{ exact_sum("case when i.status = 'paid' and coalesce(i.paid_at, i.issued_at) <= r.as_of
                 and i.issued_at > r.year_ago then i.amount_usd else 0 end") }} as paid_revenue_12m
    from invoices as i
    inner join ref_date as r on i.issued_at <= r.as_of
    group by r.snapshot, i.account_id
)

select
    coalesce(mrr.snapshot, paid.snapshot) as snapshot,
    coalesce(mrr.account_id, paid.account_id) as account_id,
    coalesce(mrr.current_mrr, 0) as current_mrr,
    coalesce(mrr.current_mrr, 0) * 12 as current_arr,
    coalesce(mrr.mrr_12m_ago, 0) as mrr_12m_ago,
    coalesce(mrr.expansion_mrr, 0) as expansion_mrr,
    coalesce(mrr.expansion_mrr, 0) * 12 as expansion_revenue,
    coalesce(paid.lifetime_paid_revenue, 0) as lifetime_paid_revenue,
    coalesce(paid.paid_revenue_12m, 0) as paid_revenue_12m,
    {{ safe_divide('mrr.current_mrr - mrr.mrr_12m_ago', 'mrr.mrr_12m_ago') }} as revenue_growth_12m,
    {{ safe_divide('mrr.current_mrr', 'mrr.mrr_12m_ago') }} as net_revenue_retention_12m,
    coalesce(mrr.subscriptions, 0) as subscriptions
from mrr
full outer join paid on paid.account_id = mrr.account_id and paid.snapshot = mrr.snapshot
