{{ config(pre_hook=icp_keep_order(true), post_hook=icp_keep_order(false)) }}
{#- Prospects and, with win-back on, churned accounts that are not disqualified, ranked by priority_score, then
    fit_score (both descending), then account_id; with each one's rank in the live publication's list
    (previous_rank; is_new when it was not on it). -#}
-- The ranks are numbered over the three columns they need, then joined to the rest: a window over every column
-- would carry each account's reasons through the sort.
with ranks as (
    select
        account_id,
        cast(row_number() over (order by priority_score desc, fit_score desc, account_id) as bigint) as rank
    from {{ ref('account_scores') }}
    where (lifecycle = 'prospect' or (lifecycle = 'churned' and {{ 'true' if var('winback') else 'false' }}))
      and score_status <> 'disqualified'
),

candidates as (
    select s.*, r.rank
    from ranks as r
    inner join {{ ref('account_scores') }} as s on s.account_id = r.account_id
),

last_refresh as (
    select refresh_id
    from {{ source('carried', 'target_accounts_history') }}
    order by scored_at desc, refresh_id desc
    limit 1
),

has_previous as (
    select count(*) > 0 as has_previous from last_refresh
),

previous as (
    select h.account_id, h.rank
    from {{ source('carried', 'target_accounts_history') }} as h
    inner join last_refresh as r on r.refresh_id = h.refresh_id
)

select
    c.rank,
    c.account_id,
    c.account_name,
    f.industry,
    cast(f.employee_count as bigint) as employee_count,
    cast(f.annual_revenue as double) as annual_revenue,
    f.country,
    f.region,
    c.fit_score,
    c.fit_tier,
    c.segment_id,
    g.segment_label,
    c.engagement_score,
    c.priority_score,
    c.reasons,
    f.open_opportunities > 0 as has_open_opportunity,
    f.owner,
    c.scored_at,
    c.model_version,
    c.score_status,
    c.status_reason,
    c.lifecycle = 'churned' as is_winback,
    f.domain,
    c.fit_probability,
    p.rank as previous_rank,
    p.account_id is null and h.has_previous as is_new
from candidates as c
cross join has_previous as h
inner join {{ ref('account_features') }} as f on f.account_id = c.account_id
inner join {{ ref('icp_segments') }} as g on g.segment_id = c.segment_id
left join previous as p on p.account_id = c.account_id
order by c.rank
