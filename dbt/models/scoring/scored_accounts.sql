{#- Every account scored with the fitted model: its level in each attribute group, fit_score (baseline plus the
    levels' points on the model's scale, clipped to 0..100), fit_probability (the product of the parts'
    probabilities), the reasons (the largest contributions, the rest as "other factors", and the baseline: the
    numbers add up to the rounded fit_score), its segment (the first rule it meets) and its engagement. -#}
{%- set fit = icp_fit() -%}
{%- set model = fit['model'] -%}
{%- set groups = fit['groups'] -%}
with accounts as (
    select *, {{ icp_tokens('technologies') }} as tokens
    from {{ ref('account_features') }}
),

levels as (
    select
        account_id, account_name, lifecycle, industry, employee_count, annual_revenue, region, lead_source,
        engagement_points, open_opportunities,
        {% for group in groups -%}
        {{ icp_level_case(group['levels']) }} as level_{{ group['no'] }},
        {% endfor -%}
        {{ icp_segment_case(fit['rules']) }} as segment_key
    from accounts
),

points as (
    select
        *,
        {% for group in groups -%}
        {%- set level = 'level_' ~ group['no'] -%}
        {{ icp_pick(level, group['levels'], 'raw') }} as raw_{{ group['no'] }},
        {{ icp_pick(level, group['levels'], 'raw_part1') }} as part1_{{ group['no'] }},
        {% if model['n_parts'] > 1 -%}
        {{ icp_pick(level, group['levels'], 'raw_part2') }} as part2_{{ group['no'] }},
        {% endif -%}
        {{ icp_pick(level, group['levels'], 'reason', 'string') }} as reason_{{ group['no'] }},
        {{ icp_pick(level, group['levels'], 'rounded', 'integer') }} as rounded_{{ group['no'] }},
        {% endfor -%}
        0 as no_group
    from levels
),

scored as (
    select
        *,
        {% for group in groups %}raw_{{ group['no'] }} + {% endfor %}0 as fit_raw,
        1 / (1 + exp(-({{ icp_number(model['intercept_part1']) }}{% for group in groups %} + part1_{{ group['no'] }}{% endfor %})))
        {%- if model['n_parts'] > 1 %}
        * (1 / (1 + exp(-({{ icp_number(model['intercept_part2']) }}{% for group in groups %} + part2_{{ group['no'] }}{% endfor %}))))
        {%- endif %} as fit_probability,
        {%- set items = [] -%}
        {%- for group in groups -%}
        {%- do items.append(('raw_' ~ group['no'], group['no'], 'reason_' ~ group['no'], 'rounded_' ~ group['no'])) -%}
        {%- endfor %}
        {{ icp_top_contributions(items, 4) }} as top_contributions
    from points
),

rounded as (
    select
        *,
        least(greatest({{ icp_round(icp_number(model['baseline']) ~ ' + fit_raw * ' ~ icp_number(model['factor']), 2) }}, 0), 100)
            as fit_score
    from scored
)

select
    account_id,
    account_name,
    lifecycle,
    industry,
    employee_count,
    annual_revenue,
    region,
    lead_source,
    segment_key,
    fit_raw,
    fit_score,
    fit_probability,
    {{ icp_number(model['baseline']) }} as fit_baseline,
    concat_ws(
        '; ',
        {{ icp_contribution_texts('top_contributions') }},
        case
            when cast(round(fit_score) as integer) - {{ model['base_points'] }} - {{ icp_contribution_points('top_contributions') }} <> 0
            then 'other factors (' || {{ icp_signed("cast(round(fit_score) as integer) - " ~ model['base_points'] ~ " - " ~ icp_contribution_points('top_contributions')) }} || ')'
        end,
        'baseline ' || cast({{ model['base_points'] }} as {{ dbt.type_string() }})
    ) as reasons,
    100 * (1 - exp(-(coalesce(engagement_points, 0) + 3 * coalesce(open_opportunities, 0)) / 5.0)) as engagement
from rounded
