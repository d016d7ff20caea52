{#- dbt's date macros on Spark, counted as DuckDB counts them (dbt_project.yml's `dispatch` puts this project's
    implementations first), so that every feature is the same number on both engines:
    datediff counts the boundaries of `datepart` crossed (dbt-spark's rounds up the seconds between two times
    instead), dateadd adds an interval to a time-zone free timestamp (dbt-spark's goes through Unix seconds). -#}
{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- if datepart == 'day' -%}
        cast(datediff(cast({{ second_date }} as date), cast({{ first_date }} as date)) as bigint)
    {%- elif datepart in ('hour', 'minute', 'second') -%}
        {%- set seconds = {'hour': 3600, 'minute': 60, 'second': 1}[datepart] -%}
        cast((unix_seconds(cast(date_trunc('{{ datepart }}', {{ second_date }}) as timestamp))
              - unix_seconds(cast(date_trunc('{{ datepart }}', {{ first_date }}) as timestamp))) / {{ seconds }} as bigint)
    {%- else -%}
        {{ return(dbt_spark.spark__datediff(first_date, second_date, datepart)) }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    {%- set months = {'month': 1, 'quarter': 3, 'year': 12} -%}
    {%- set seconds = {'day': 86400, 'hour': 3600, 'minute': 60, 'second': 1} -%}
    {%- if datepart in months -%}
        ({{ from_date_or_timestamp }} + make_ym_interval(0, cast(({{ interval }}) * {{ months[datepart] }} as int)))
    {%- elif datepart in seconds -%}
        ({{ from_date_or_timestamp }} + make_dt_interval(0, 0, 0, ({{ interval }}) * {{ seconds[datepart] }}))
    {%- else -%}
        {{ return(dbt_spark.spark__dateadd(datepart, interval, from_date_or_timestamp)) }}
    {%- endif -%}
{%- endmacro %}
