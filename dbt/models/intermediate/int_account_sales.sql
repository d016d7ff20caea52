{#- Sales history per account: won and lost new business, win rate, sales cycle, first win, open pipeline. -#}
with opportunities as (
    select * from {{ ref('stg_crm__opportunities') }}
),

ref_date as (
    select as_of from {{ ref('int_reference_date') }}
),

closed as (
    select o.*
    from opportunities as o
    cross join ref_date as r
    where o.is_closed and (o.close_date is null or cast(o.close_date as {{ dbt.type_timestamp() }}) <= r.as_of)
),

first_win as (
    select account_id, opportunity_id, close_date, lead_source,
        row_number() over (partition by account_id order by close_date, opportunity_id) as win_order
    from closed
    where is_won and opportunity_type = 'new_business'
),

per_account as (
    select
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
    group by account_id
),

open_pipeline as (
    select account_id, count(*) as open_opportunities, {{ exact_sum("coalesce(amount_usd, 0)") }} as open_pipeline
    from opportunities
    where not is_closed
    group by account_id
)

select
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
full outer join open_pipeline as op on op.account_id = p.account_id
left join first_win as fw on fw.account_id = coalesce(p.account_id, op.account_id) and fw.win_order = 1
