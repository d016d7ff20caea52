{#- On Spark, the tables the pipeline hands over as Parquet (the ingest's raw tables, the fit's tables: var
    `exchange`, {"schema.table": folder}, pipelines/spark.py) are registered as external tables of those names
    before the models run: those of the sources that the selected models read. DuckDB reads the pipeline's tables
    where they are: nothing to do. -#}
{% macro register_exchange() %}
    {%- if target.type == 'spark' and execute -%}
        {%- set read = [] -%}
        {%- for unique_id in selected_resources if unique_id in graph.nodes -%}
            {%- for source_id in graph.nodes[unique_id].depends_on.nodes if source_id in graph.sources -%}
                {%- do read.append(graph.sources[source_id].schema ~ '.' ~ graph.sources[source_id].name) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for relation, folder in var('exchange', {}).items() if relation in read -%}
            {%- do run_query('create database if not exists ' ~ relation.split('.')[0]) -%}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- do run_query('create table ' ~ relation ~ ' using parquet location ' ~ icp_string(folder)) -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
