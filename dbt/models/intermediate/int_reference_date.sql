{#- The snapshots every intermediate model is computed at, one row each: `current`, the reference date of every
    "current" figure (the `as_of` var when given, else the latest event in the data, never the wall clock, so that
    the same landing data gives the same features; a subscription's end date is left out, as it may be a
    scheduled end in the future), and `backtest_cutoff`, `backtest_months` before it: what was
    known then, for the backtest to learn from. -#}
with events as (
    select max(created_at) as event_at from {{ ref('stg_crm__accounts') }}
    union all select max(created_at) from {{ ref('stg_crm__opportunities') }}
    union all select max(cast(close_date as {{ dbt.type_timestamp() }})) from {{ ref('stg_crm__opportunities') }} where is_closed
    union all select max(occurred_at) from {{ ref('stg_crm__activities') }}
    union all select max(started_at) from {{ ref('stg_billing__subscriptions') }}
    union all select max(issued_at) from {{ ref('stg_billing__invoices') }}
    union all select max(created_at) from {{ ref('stg_support__tickets') }}
),

latest as (
    select
    {%- if var('as_of') %}
        cast('{{ var("as_of") }}' as {{ dbt.type_timestamp() }}) as as_of
    {%- else %}
        max(event_at) as as_of
    {%- endif %}
    from events
)

select 'current' as snapshot, as_of from latest
union all
select 'backtest_cutoff' as snapshot, {{ dbt.dateadd('month', -var('backtest_months'), 'as_of') }} as as_of
from latest
