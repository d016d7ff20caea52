{#- Tables and views in one statement each. DuckDB replaces a relation atomically within its transaction, so dbt's
    default sequence (create under a temporary name, rename the old relation aside, rename the new one in, drop
    the old one) only adds queries to every model of every run. A relation of the other kind is dropped first. -#}

{%- macro icp_replace(kind, sql) -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type=kind) -%}
  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {%- if existing_relation is not none and existing_relation.type != kind %}
    {{ drop_relation_if_exists(existing_relation) }}
  {%- endif %}
  {% call statement('main') -%}
    create or replace {{ kind }} {{ target_relation }} as (
      {{ sql }}
    )
  {%- endcall %}
  {% do persist_docs(target_relation, model) %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{%- endmacro -%}

{%- materialization view, adapter='duckdb' -%}
  {{ return(icp_replace('view', sql)) }}
{%- endmaterialization -%}

{%- materialization table, adapter='duckdb' -%}
  {{ return(icp_replace('table', sql)) }}
{%- endmaterialization -%}
