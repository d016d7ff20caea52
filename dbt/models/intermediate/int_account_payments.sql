{#- Payment health per account and snapshot (int_reference_date): share of invoices paid, uncollectible and overdue
    counts, days to pay, as known at the snapshot's as_of. Void and refunded invoices are left out of the shares;
    an invoice paid after as_of was open then, and an uncollectible one counts from its due date. -#}
with invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

ref_date as (
    select snapshot, as_of from {{ ref('int_reference_date') }}
),

known as (
    select
        r.snapshot,
        r.as_of,
        i.account_id,
        i.issued_at,
        i.due_at,
        case when i.paid_at <= r.as_of then i.paid_at end as paid_at,
        case
            when i.status = 'paid' and coalesce(i.paid_at, i.issued_at) > r.as_of then 'open'
            when i.status = 'uncollectible' and coalesce(i.due_at, i.issued_at) > r.as_of then 'open'
            else i.status
        end as status
    from invoices as i
    inner join ref_date as r on i.issued_at <= r.as_of
)

select
    snapshot,
    account_id,
    count(*) as invoices,
    {{ safe_divide("count(case when status = 'paid' then 1 end)",
                   "count(case when status in ('paid', 'open', 'uncollectible') then 1 end)") }} as paid_share,
    count(case when status = 'uncollectible' then 1 end) as uncollectible_invoices,
    count(case when status = 'open' and due_at < as_of then 1 end) as overdue_invoices,
    avg(case when paid_at is not null then {{ dbt.datediff('issued_at', 'paid_at', 'day') }} end) as avg_days_to_pay
from known
group by snapshot, account_id
