{#- The decision store's tables (sources `decisions` and `decision_log`), created from the column
    data_types of their yml, the one home of their shape (a table with meta published_as takes
    the columns of the model that publishes it); a column the yml gained since the
    table was created is added, and a table of an older provmon named by meta legacy_table
    (in main) moves into the store the first time. Run on every dbt invocation (on-run-start), so that the public
    decision marts have something to select from before the first `provmon decide`. -#}
{% macro _relation_exists(schema, name, kind=none) %}
    {%- set found = run_query(
        "select count(*) from information_schema.tables where table_catalog = current_database() "
        ~ "and table_schema = '" ~ schema ~ "' and table_name = '" ~ name ~ "'"
        ~ (" and table_type = '" ~ kind ~ "'" if kind else "")
    ) -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{% endmacro %}

{% macro create_decision_store() %}
    {%- if execute -%}
        {%- for node in graph.sources.values() if node.source_name in ('decisions', 'decision_log') -%}
            {%- set relation = adapter.quote(node.schema) ~ '.' ~ adapter.quote(node.identifier) -%}
            {%- set columns = [] -%}
            {%- set published = node.config.meta.get('published_as') -%}
            {%- set declared = graph.nodes['model.provmon.' ~ published].columns if published else node.columns -%}
            {%- for column in declared.values() -%}
                {%- do columns.append(adapter.quote(column.name) ~ ' ' ~ column.data_type) -%}
            {%- endfor -%}
            {%- do run_query('create schema if not exists ' ~ adapter.quote(node.schema)) -%}
            {%- set legacy = node.config.meta.get('legacy_table') -%}
            {%- if legacy and not _relation_exists(node.schema, node.identifier) and _relation_exists('main', legacy, 'BASE TABLE') -%}
                {#- Decisions stored by an older provmon in main: they move into the store. -#}
                {%- do run_query('create table ' ~ relation ~ ' as select * from main.' ~ adapter.quote(legacy)) -%}
            {%- endif -%}
            {%- do run_query('create table if not exists ' ~ relation ~ ' (' ~ columns | join(', ') ~ ')') -%}
            {%- for column in columns -%}
                {%- do run_query('alter table ' ~ relation ~ ' add column if not exists ' ~ column) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as decision_store_ready
{% endmacro %}
