{#- Payment health per account: share of invoices paid, uncollectible and overdue counts, days to pay.
    Void and refunded invoices are left out of the shares. -#}
with invoices as (
    select * from {{ ref('stg_billing__invoices') }}
),

ref_date as (
    select as_of from {{ ref('int_reference_date') }}
)

select
    i.account_id,
    count(*) as invoices,
    {{ safe_divide("count(case when i.status = 'paid' then 1 end)",
                   "count(case when i.status in ('paid', 'open', 'uncollectible') then 1 end)") }} as paid_share,
    count(case when i.status = 'uncollectible' then 1 end) as uncollectible_invoices,
    count(case when i.status = 'open' and i.due_at < r.as_of then 1 end) as overdue_invoices,
    avg(case when i.paid_at is not null then {{ dbt.datediff('i.issued_at', 'i.paid_at', 'day') }} end) as avg_days_to_pay
from invoices as i
cross join ref_date as r
where i.issued_at <= r.as_of
group by i.account_id
