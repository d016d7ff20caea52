{#- One row per account that existed at the backtest's cutoff (int_reference_date's `backtest_cutoff` snapshot),
    with what was known of it then: the columns of account_state_columns. The backtest learns its labels from
    these, never from today's figures. -#}
with cutoff as (
    select as_of from {{ ref('int_reference_date') }} where snapshot = 'backtest_cutoff'
),

accounts as (
    select a.account_id
    from {{ ref('stg_crm__accounts') }} as a
    cross join cutoff as c
    where a.created_at is null or a.created_at <= c.as_of
)

select
    a.account_id,
    {{ account_state_columns() }},
    c.as_of
from accounts as a
cross join cutoff as c
{{ account_state_joins('a.account_id', 'backtest_cutoff') }}
