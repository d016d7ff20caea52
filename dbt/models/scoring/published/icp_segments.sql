{{ config(pre_hook=icp_keep_order(true), post_hook=icp_keep_order(false)) }}
select
    segment_id,
    segment_label,
    kind,
    cast(n_accounts as bigint) as n_accounts,
    cast(n_customers as bigint) as n_customers,
    cast(n_ideal as bigint) as n_ideal,
    cast(ideal_rate as double) as ideal_rate,
    cast(lift as double) as lift,
    cast(win_rate as double) as win_rate,
    cast(avg_value_index as double) as avg_value_index,
    cast(churn_rate as double) as churn_rate,
    cast(n_prospects as bigint) as n_prospects,
    cast(p_value as double) as p_value
from {{ ref('segment_ids') }}
order by segment_id
