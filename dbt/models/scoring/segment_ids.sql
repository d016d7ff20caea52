{#- Each segment with every account counted (the fit counted only the accounts with an outcome) and its id: S01, S02,
    ... by lift (highest first), then size. -#}
with counts as (
    select
        segment_key,
        count(*) as n_accounts,
        sum(case when lifecycle = 'prospect' then 1 else 0 end) as n_prospects
    from {{ ref('scored_accounts') }}
    group by segment_key
),

numbered as (
    select
        s.*,
        coalesce(c.n_accounts, 0) as n_accounts,
        coalesce(c.n_prospects, 0) as n_prospects,
        row_number() over (order by s.lift desc nulls last, coalesce(c.n_accounts, 0) desc, s.segment_key) as position
    from {{ source('fit', 'segments') }} as s
    left join counts as c on c.segment_key = s.segment_key
)

select
    case when position < 10 then 'S0' else 'S' end || cast(position as {{ dbt.type_string() }}) as segment_id,
    *
from numbered
