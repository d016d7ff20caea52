{#- Scoring with the fitted model (schema `fit`): its tables are read when the scoring models run, and the models'
    SQL is written from them. Engine-specific functions go through adapter.dispatch (default: DuckDB; spark__: Spark SQL). -#}

{% macro icp_fit_rows(relation, order_by) -%}
    {%- if execute -%}
        {{ return(run_query("select * from " ~ relation ~ " order by " ~ order_by).rows) }}
    {%- endif -%}
    {{ return([]) }}
{%- endmacro %}

{#- The fitted model: {'model': its row, 'groups': [{'no', 'levels'}], 'rules': [{'key', 'conditions', 'codes'}]}. -#}
{% macro icp_fit() -%}
    {%- set levels = icp_fit_rows(source('fit', 'levels'), 'grp_no, level_no') -%}
    {%- set models = icp_fit_rows(source('fit', 'model'), 'model_version') -%}
    {%- set segments = icp_fit_rows(source('fit', 'segments'), 'rule_order') -%}
    {%- set conditions = icp_fit_rows(source('fit', 'segment_rules'), 'segment_key, condition_no') -%}
    {%- set codes = icp_fit_rows(source('fit', 'segment_codes'), 'segment_key, column_name, code') -%}
    {%- set groups = [] -%}
    {%- for level in levels -%}
        {%- if level['level_no'] == 0 -%}{%- do groups.append({'no': level['grp_no'], 'levels': []}) -%}{%- endif -%}
        {%- do groups[-1]['levels'].append(level) -%}
    {%- endfor -%}
    {%- set rules = [] -%}
    {%- for segment in segments -%}
        {%- set rule = {'key': segment['segment_key'], 'conditions': [], 'codes': {}} -%}
        {%- for condition in conditions if condition['segment_key'] == segment['segment_key'] -%}
            {%- do rule['conditions'].append(condition) -%}
        {%- endfor -%}
        {%- for code in codes if code['segment_key'] == segment['segment_key'] -%}
            {%- do rule['codes'].setdefault(code['column_name'], []).append(code) -%}
        {%- endfor -%}
        {%- do rules.append(rule) -%}
    {%- endfor -%}
    {#- When dbt parses the project (nothing runs), a model that scores every account the same. -#}
    {%- set parsing = {'model_version': '', 'model_kind': 'uniform', 'scored_at': '1970-01-01', 'baseline': 50,
                       'factor': 0, 'n_parts': 1, 'intercept_part1': 0, 'intercept_part2': none, 'tier_a': 75,
                       'tier_b': 50, 'tier_c': 25, 'base_points': 50} -%}
    {{ return({'model': models[0] if models else parsing, 'groups': groups, 'rules': rules}) }}
{%- endmacro %}

{% macro icp_number(value) -%}
    {%- if value is none -%}cast(null as double){%- else -%}cast({{ value }} as double){%- endif -%}
{%- endmacro %}

{% macro icp_string(value) -%}{{ return(adapter.dispatch('icp_string')(value)) }}{%- endmacro %}
{% macro default__icp_string(value) -%}'{{ value | replace("'", "''") }}'{%- endmacro %}
{% macro spark__icp_string(value) -%}'{{ value | replace('\\', '\\\\') | replace("'", "\\'") }}'{%- endmacro %}

{#- Text values, lower-cased, as a comma-separated list of literals. -#}
{% macro icp_strings(values) -%}
    {%- set literals = [] -%}
    {%- for value in values -%}{%- do literals.append(icp_string(value | lower)) -%}{%- endfor -%}
    {{ literals | join(', ') }}
{%- endmacro %}

{#- An account's technologies as a list of lower-case names, and whether it includes `token`. -#}
{% macro icp_tokens(column) -%}{{ return(adapter.dispatch('icp_tokens')(column)) }}{%- endmacro %}
{% macro default__icp_tokens(column) -%}
    list_transform(string_split(lower(coalesce({{ column }}, '')), ';'), x -> trim(x))
{%- endmacro %}
{% macro spark__icp_tokens(column) -%}
    transform(split(lower(coalesce({{ column }}, '')), ';'), x -> trim(x))
{%- endmacro %}
{% macro icp_has_token(tokens, token) -%}{{ return(adapter.dispatch('icp_has_token')(tokens, token)) }}{%- endmacro %}
{% macro default__icp_has_token(tokens, token) -%}list_contains({{ tokens }}, {{ icp_string(token) }}){%- endmacro %}
{% macro spark__icp_has_token(tokens, token) -%}array_contains({{ tokens }}, {{ icp_string(token) }}){%- endmacro %}

{#- A level's test (pipelines/icp/attributes.py: Level) as a condition. -#}
{% macro icp_level_test(level) -%}
    {%- set column = adapter.quote(level['column_name']) if level['column_name'] else none -%}
    {%- if level['test'] == 'null' -%}{{ column }} is null
    {%- elif level['test'] == 'lt' -%}{{ column }} < {{ icp_number(level['high']) }}
    {%- elif level['test'] == 'eq' -%}{{ column }} = {{ icp_string(level['value']) }}
    {%- elif level['test'] == 'token' -%}{{ icp_has_token('tokens', level['value']) }}
    {%- elif level['test'] == 'range' -%}
        {%- set bounds = [] -%}
        {%- if level['low'] is not none -%}{%- do bounds.append(column ~ ' >= ' ~ icp_number(level['low'])) -%}{%- endif -%}
        {%- if level['high'] is not none -%}{%- do bounds.append(column ~ ' < ' ~ icp_number(level['high'])) -%}{%- endif -%}
        {{ bounds | join(' and ') if bounds else 'true' }}
    {%- else -%}{{ exceptions.raise_compiler_error("level " ~ level['label'] ~ ": unknown test " ~ level['test']) }}
    {%- endif -%}
{%- endmacro %}

{#- An account's level number in a group: its first level whose test holds (the last level is `else`). -#}
{% macro icp_level_case(levels) -%}
    {%- if levels | length == 1 -%}0{%- else -%}
    case {% for level in levels[:-1] %}when {{ icp_level_test(level) }} then {{ level['level_no'] }} {% endfor -%}
    else {{ levels[-1]['level_no'] }} end
    {%- endif -%}
{%- endmacro %}

{#- A level's `field` (fit.levels' column) picked by the level number in `level_column`. -#}
{% macro icp_pick(level_column, levels, field, cast_to='double') -%}
    case {{ level_column }} {% for level in levels -%}
    when {{ level['level_no'] }} then {{ 'cast(null as ' ~ cast_to ~ ')' if level[field] is none
        else (icp_string(level[field]) if cast_to == 'string' else 'cast(' ~ level[field] ~ ' as ' ~ cast_to ~ ')') }} {% endfor -%}
    end
{%- endmacro %}

{#- A segment rule's condition over the segment tree's inputs: a category by its code (-1 unknown or unseen), a number
    (-1 unknown), a technology 0 or 1. -#}
{% macro icp_segment_condition(condition, codes) -%}
    {%- set column = condition['column_name'] -%}
    {%- if column.startswith('tech:') -%}
        (case when {{ icp_has_token('tokens', column[5:] | lower) }} then 1 else 0 end)
    {%- elif column in codes -%}
        (case {{ adapter.quote(column) }} {% for code in codes[column] %}when {{ icp_string(code['level']) }} then {{ code['code'] }} {% endfor %}else -1 end)
    {%- else -%}
        coalesce(cast({{ adapter.quote(column) }} as double), -1)
    {%- endif %} {{ '<=' if condition['op'] == '<=' else '>' }} {{ icp_number(condition['threshold']) }}
{%- endmacro %}

{#- The key of an account's segment: the first rule it meets, in the order the segments were found. -#}
{% macro icp_segment_case(rules) -%}
    case {% for rule in rules -%}
    when {% for condition in rule['conditions'] %}{{ icp_segment_condition(condition, rule['codes']) }}{{ ' and ' if not loop.last }}{% else %}true{% endfor %} then {{ rule['key'] }}
    {% endfor -%}
    end
{%- endmacro %}

{#- The `n` largest contributions (by size; ties to the earlier group) of `items` [(size, group, text, points)]. -#}
{% macro icp_top_contributions(items, n) -%}{{ return(adapter.dispatch('icp_top_contributions')(items, n)) }}{%- endmacro %}
{% macro default__icp_top_contributions(items, n) -%}
    list_slice(list_sort([{% for size, group, text, points in items %}{'k': -abs({{ size }}), 'g': {{ group }}, 't': {{ text }}, 'p': {{ points }}}{{ ', ' if not loop.last }}{% endfor %}]), 1, {{ n }})
{%- endmacro %}
{% macro spark__icp_top_contributions(items, n) -%}
    slice(array_sort(array({% for size, group, text, points in items %}named_struct('k', -abs({{ size }}), 'g', {{ group }}, 't', {{ text }}, 'p', {{ points }}){{ ', ' if not loop.last }}{% endfor %})), 1, {{ n }})
{%- endmacro %}
{#- The texts of the contributions (the NULL ones left out) joined by '; ', NULL when none; and their points' sum. -#}
{% macro icp_contribution_texts(top) -%}{{ return(adapter.dispatch('icp_contribution_texts')(top)) }}{%- endmacro %}
{% macro default__icp_contribution_texts(top) -%}
    nullif(array_to_string(list_filter(list_transform({{ top }}, x -> x.t), x -> x is not null), '; '), '')
{%- endmacro %}
{% macro spark__icp_contribution_texts(top) -%}
    nullif(array_join(filter(transform({{ top }}, x -> x.t), x -> x is not null), '; '), '')
{%- endmacro %}
{% macro icp_contribution_points(top) -%}{{ return(adapter.dispatch('icp_contribution_points')(top)) }}{%- endmacro %}
{% macro default__icp_contribution_points(top) -%}
    cast(coalesce(list_sum(list_transform({{ top }}, x -> x.p)), 0) as integer)
{%- endmacro %}
{% macro spark__icp_contribution_points(top) -%}
    cast(aggregate({{ top }}, 0, (total, x) -> total + coalesce(x.p, 0)) as integer)
{%- endmacro %}
{#- Round as numpy does (the scaled value to the nearest integer, ties to even): the fit's Python and the engine
    then agree on every score. -#}
{% macro icp_round(value, digits) -%}{{ return(adapter.dispatch('icp_round')(value, digits)) }}{%- endmacro %}
{% macro default__icp_round(value, digits) -%}
    round_even(({{ value }}) * {{ 10 ** digits }}, 0) / {{ 10 ** digits }}
{%- endmacro %}
{% macro spark__icp_round(value, digits) -%}
    bround(({{ value }}) * {{ 10 ** digits }}, 0) / {{ 10 ** digits }}
{%- endmacro %}

{% macro icp_signed(value) -%}{{ return(adapter.dispatch('icp_signed')(value)) }}{%- endmacro %}
{% macro default__icp_signed(value) -%}printf('%+d', {{ value }}){%- endmacro %}
{% macro spark__icp_signed(value) -%}format_string('%+d', {{ value }}){%- endmacro %}

{#- Keep the rows of a published table in the order it was written (BI tools show them so); DuckDB only. -#}
{% macro icp_keep_order(keep) -%}{{ return(adapter.dispatch('icp_keep_order')(keep)) }}{%- endmacro %}
{% macro default__icp_keep_order(keep) -%}{%- endmacro %}
{% macro duckdb__icp_keep_order(keep) -%}set preserve_insertion_order = {{ 'true' if keep else 'false' }}{%- endmacro %}
