{#- Stage rule of the landing contract, used when is_won / is_closed are empty:
    'closed won' or 'won' -> closed and won; 'closed lost' or 'lost' -> closed, not won; anything else -> open. -#}
with source as (
    select * from {{ source('raw', 'crm_opportunities') }}
),

flagged as (
    select
        *,
        coalesce(is_won, lower(trim(stage)) in ('closed won', 'won')) as won_flag,
        coalesce(is_closed, is_won, lower(trim(stage)) in ('closed won', 'won', 'closed lost', 'lost')) as closed_flag
    from source
)

select
    opportunity_id,
    account_id,
    created_at,
    stage,
    close_date,
    closed_flag as is_closed,
    won_flag and closed_flag as is_won,
    amount,
    currency,
    amount_usd,
    coalesce(opportunity_type, 'new_business') as opportunity_type,
    lower(trim(lead_source)) as lead_source
from flagged
