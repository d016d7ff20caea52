{{ config(pre_hook=icp_keep_order(true), post_hook=icp_keep_order(false)) }}
{#- Every account's fit, tier, segment, value labels and status: `disqualified` (excluded in icp.yaml, an anti-ICP
    segment or a bad-fit rule, in that order, the rule in words as its reason), else `insufficient_data` (fewer than
    scoring.min_known_attributes of the pre-sale attributes known: its score is mostly the baseline), else
    `scored`. -#}
{%- set fit = icp_fit() -%}
{%- set model = fit['model'] -%}
{%- set attributes = var('pre_sale_attributes') -%}
{%- set domains = var('exclude_domains', []) -%}
{%- set names = var('exclude_account_names', []) -%}
with scored as (
    select
        s.*,
        g.segment_id,
        g.segment_label,
        g.kind = 'anti_icp' as is_anti,
        l.value_index,
        l.is_ideal,
        l.is_bad_fit as is_bad_customer,
        l.bad_fit_reason as customer_bad_fit_reason,
        {% set kept = [] -%}
        {%- if domains -%}{%- do kept.append("coalesce(lower(f.domain), '') not in (" ~ icp_strings(domains) ~ ")") -%}{%- endif -%}
        {%- if names -%}{%- do kept.append("lower(f.account_name) not in (" ~ icp_strings(names) ~ ")") -%}{%- endif -%}
        {{ 'not coalesce(' ~ (kept | join(' and ')) ~ ', false)' if kept else 'false' }} as is_excluded,
        {% for a in attributes %}(case when s.{{ a }} is null then 0 else 1 end){{ ' + ' if not loop.last }}{% endfor %}
            as known_attributes,
        concat_ws(', ', {% for a in attributes %}case when s.{{ a }} is null then '{{ a | replace("_", " ") }}' end{{ ', ' if not loop.last }}{% endfor %})
            as missing_attributes
    from {{ ref('scored_accounts') }} as s
    inner join {{ ref('segment_ids') }} as g on g.segment_key = s.segment_key
    left join {{ source('fit', 'customer_labels') }} as l on l.account_id = s.account_id
    left join {{ ref('account_features') }} as f on f.account_id = s.account_id
),

judged as (
    select
        *,
        coalesce(is_bad_customer, false) or is_anti as is_bad_fit,
        case when is_anti then 'anti-ICP segment' else customer_bad_fit_reason end as bad_fit_reason,
        {{ icp_round((1 - var('engagement_weight')) ~ ' * fit_score + ' ~ var('engagement_weight') ~ ' * engagement', 2) }}
            as priority_score
    from scored
)

select
    account_id,
    account_name,
    lifecycle,
    fit_score,
    case
        when fit_score >= {{ icp_number(model['tier_a']) }} then 'A'
        when fit_score >= {{ icp_number(model['tier_b']) }} then 'B'
        when fit_score >= {{ icp_number(model['tier_c']) }} then 'C'
        else 'D'
    end as fit_tier,
    segment_id,
    cast(value_index as double) as value_index,
    is_ideal,
    is_bad_fit,
    reasons,
    cast({{ icp_string(model['scored_at']) }} as timestamp) as scored_at,
    {{ icp_string(model['model_version']) }} as model_version,
    case
        when is_excluded or is_bad_fit then 'disqualified'
        when known_attributes < {{ var('min_known_attributes') }} then 'insufficient_data'
        else 'scored'
    end as score_status,
    case
        when is_excluded then 'excluded by icp.yaml (exclude:)'
        when is_anti then 'anti-ICP segment ' || segment_id || ' (' || segment_label || ')'
        when is_bad_fit then coalesce('bad fit: ' || bad_fit_reason, 'bad fit')
        when known_attributes < {{ var('min_known_attributes') }}
            then 'only ' || cast(known_attributes as {{ dbt.type_string() }}) || ' of {{ attributes | length }} pre-sale attributes known (missing: '
                 || missing_attributes || ')'
    end as status_reason,
    bad_fit_reason,
    fit_probability,
    fit_baseline,
    {{ icp_round('engagement', 2) }} as engagement_score,
    priority_score
from judged
order by account_id
