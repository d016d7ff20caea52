{#- A website domain compared lower-case without scheme, www. or path: 'https://www.Acme.com/x' -> 'acme.com'. -#}
{% macro normalize_domain(column) -%}
    {%- set bare = dbt.split_part(
            "replace(replace(lower(trim(" ~ column ~ ")), 'https://', ''), 'http://', '')", "'/'", 1) -%}
    nullif(case when {{ bare }} like 'www.%'
                then {{ dbt.right(bare, dbt.length(bare) ~ ' - 4') }}
                else {{ bare }} end, '')
{%- endmacro %}

{#- Fractional months between two timestamps (average month length), portable across warehouses. -#}
{% macro months_between(start_column, end_column) -%}
    ({{ dbt.datediff(start_column, end_column, 'day') }} / cast(30.4375 as double))
{%- endmacro %}

{#- Division that yields null instead of an error when the denominator is 0 or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    ({{ numerator }}) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#- A column name for a technology flag: 'Google Analytics' -> uses_google_analytics. -#}
{% macro tech_flag_name(technology) -%}
    uses_{{ technology | lower | replace(' ', '_') | replace('-', '_') | replace('.', '_') }}
{%- endmacro %}

{#- The sum of floating-point values, the same whatever order the rows arrive in: each value is rounded to `scale`
    decimals and summed as an exact decimal. A plain sum of doubles depends on the order, which parallel plans vary. -#}
{% macro exact_sum(expression, scale=6) -%}
    cast(sum(cast({{ expression }} as decimal(38, {{ scale }}))) as double)
{%- endmacro %}
