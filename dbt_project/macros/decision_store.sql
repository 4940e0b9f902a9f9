{#- The decision store's tables (sources `decisions` and `decision_log`), created from the column
    data_types of their yml, the one home of their shape; a column the yml gained since the
    table was created is added. Run on every dbt invocation (on-run-start), so that the public
    decision marts have something to select from before the first `provmon decide`. -#}
{% macro create_decision_store() %}
    {%- if execute -%}
        {%- for node in graph.sources.values() if node.source_name in ('decisions', 'decision_log') -%}
            {%- set relation = adapter.quote(node.schema) ~ '.' ~ adapter.quote(node.identifier) -%}
            {%- set columns = [] -%}
            {%- for column in node.columns.values() -%}
                {%- do columns.append(adapter.quote(column.name) ~ ' ' ~ column.data_type) -%}
            {%- endfor -%}
            {%- do run_query('create schema if not exists ' ~ adapter.quote(node.schema)) -%}
            {%- do run_query('create table if not exists ' ~ relation ~ ' (' ~ columns | join(', ') ~ ')') -%}
            {%- for column in columns -%}
                {%- do run_query('alter table ' ~ relation ~ ' add column if not exists ' ~ column) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as decision_store_ready
{% endmacro %}
