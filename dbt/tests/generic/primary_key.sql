{#- A key column: no value missing, none repeated. One scan instead of dbt's `unique` and `not_null` (a key
    test each, and a Dagster asset check each); every failing row names a missing or repeated key. -#}
{% test primary_key(model, column_name) %}
select {{ column_name }} as key_value, count(*) as n_records
from {{ model }}
group by {{ column_name }}
having {{ column_name }} is null or count(*) > 1
{% endtest %}
