{#- A key: no value missing, none repeated. One scan instead of dbt's `unique` and `not_null` (a key test each,
    and a Dagster asset check each); every failing row names a missing or repeated key. On a column, or on the
    model with `columns` (a key of several columns). -#}
{% test primary_key(model, column_name=none, columns=none) %}
{%- set key = columns if columns else [column_name] %}
select {{ key | join(', ') }}, count(*) as n_records
from {{ model }}
group by {{ key | join(', ') }}
having {% for c in key %}{{ c }} is null or {% endfor %}count(*) > 1
{% endtest %}
