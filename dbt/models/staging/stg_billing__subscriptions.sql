with source as (
    select * from {{ source('raw', 'billing_subscriptions') }}
)

select
    subscription_id,
    account_id,
    started_at,
    ended_at,
    mrr,
    currency,
    mrr_usd,
    plan,
    lower(trim(status)) as status
from source
