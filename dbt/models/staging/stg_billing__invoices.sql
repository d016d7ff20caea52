with source as (
    select * from {{ source('raw', 'billing_invoices') }}
)

select
    invoice_id,
    account_id,
    issued_at,
    amount,
    currency,
    amount_usd,
    status,
    coalesce(due_at, {{ dbt.dateadd('day', 30, 'issued_at') }}) as due_at,
    paid_at
from source
