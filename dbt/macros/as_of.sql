{#- The reference timestamp as a SQL expression: the `as_of` var when set, else int_reference_date's. -#}
{% macro as_of() -%}
    (select as_of from {{ ref('int_reference_date') }})
{%- endmacro %}
