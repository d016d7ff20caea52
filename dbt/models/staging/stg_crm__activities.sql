with source as (
    select * from {{ source('raw', 'crm_activities') }}
)

select
    activity_id,
    account_id,
    occurred_at,
    activity_type,
    contact_id
from source
