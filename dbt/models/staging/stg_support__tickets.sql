with source as (
    select * from {{ source('raw', 'support_tickets') }}
)

select
    ticket_id,
    account_id,
    created_at,
    solved_at,
    coalesce(priority, 'normal') as priority,
    lower(trim(channel)) as channel,
    category,
    csat,
    lower(trim(status)) as status
from source
