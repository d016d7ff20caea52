{#- Sales history per account and snapshot (int_reference_date), as known at the snapshot's as_of: won and lost new
    business, win rate, sales cycle, first win, and the pipeline open then (created by as_of, closed after it or
    not yet). -#}
{%- set closed_at = "cast(o.close_date as " ~ dbt.type_timestamp() ~ ")" -%}
with opportunities as (
    select * from {{ ref('stg_crm__opportunities') }}
),

ref_date as (
    select snapshot, as_of from {{ ref('int_reference_date') }}
),

closed as (
    select r.snapshot, o.*
    from opportunities as o
    inner join ref_date as r on o.is_closed and (o.close_date is null or {{ closed_at }} <= r.as_of)
),

first_win as (
    select snapshot, account_id, opportunity_id, close_date, lead_source,
        row_number() over (partition by snapshot, account_id order by close_date, opportunity_id) as win_order
    from closed
    where is_won and opportunity_type = 'new_business'
),

per_account as (
    select
        snapshot,
        account_id,
        count(case when is_won and opportunity_type = 'new_business' then 1 end) as won_deals,
        count(case when not is_won and opportunity_type = 'new_business' then 1 end) as lost_deals,
        {{ exact_sum("case when is_won then coalesce(amount_usd, 0) else 0 end") }} as won_amount,
        {{ exact_sum("case when is_won and opportunity_type = 'expansion' then coalesce(amount_usd, 0) else 0 end") }}
            as expansion_won_amount,
        avg(case when is_won and opportunity_type = 'new_business' and close_date is not null
                 then {{ dbt.datediff('created_at', 'close_date', 'day') }} end) as avg_sales_cycle_days,
        max(cast(close_date as {{ dbt.type_timestamp() }})) as last_closed_at
    from closed
    group by snapshot, account_id
),

open_pipeline as (
    select r.snapshot, o.account_id, count(*) as open_opportunities,
        {{ exact_sum("coalesce(o.amount_usd, 0)") }} as open_pipeline
    from opportunities as o
    inner join ref_date as r
        on (o.created_at is null or o.created_at <= r.as_of)
        and (not o.is_closed or (o.close_date is not null and {{ closed_at }} > r.as_of))
    group by r.snapshot, o.account_id
)

select
    coalesce(p.snapshot, op.snapshot) as snapshot,
    coalesce(p.account_id, op.account_id) as account_id,
    coalesce(p.won_deals, 0) as won_deals,
    coalesce(p.lost_deals, 0) as lost_deals,
    {{ safe_divide('p.won_deals', 'p.won_deals + p.lost_deals') }} as win_rate,
    coalesce(p.won_amount, 0) as won_amount,
    coalesce(p.expansion_won_amount, 0) as expansion_won_amount,
    p.avg_sales_cycle_days,
    fw.close_date as first_won_date,
    fw.lead_source as first_win_lead_source,
    p.last_closed_at,
    coalesce(op.open_opportunities, 0) as open_opportunities,
    coalesce(op.open_pipeline, 0) as open_pipeline
from per_account as p
full outer join open_pipeline as op on op.account_id = p.account_id and op.snapshot = p.snapshot
left join first_win as fw
    on fw.account_id = coalesce(p.account_id, op.account_id) and fw.snapshot = coalesce(p.snapshot, op.snapshot)
    and fw.win_order = 1
