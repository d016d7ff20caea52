with source as (
    select * from {{ source('raw', 'reference_fx_rates') }}
)

select
    currency,
    rate_to_usd
from source
