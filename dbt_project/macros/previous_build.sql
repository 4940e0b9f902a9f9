{#-
    `model_name` as the previous published build made it, for a model that keeps that build's
    rows: the relation in the schema of var previous_build_schema beside it that matches the
    calling model's own (e.g. `<previous>_intermediate` for an intermediate model). None on the
    first build, on --full-refresh, when var previous_build_loads_through is 0 (the previous
    build ran on other code or landing columns: pipeline/landing_checks.py), when the previous
    build has no such table, and while dbt only parses. A unit test of a model that calls this
    sets previous_build_loads_through to 0, so that it never reads a real build.
-#}
{% macro previous_build_relation(model_name) -%}
    {%- set previous = var('previous_build_schema') -%}
    {%- if not execute or not previous or not var('previous_build_loads_through') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set folder_suffix = this.schema[target.schema | length:] -%}
    {{ return(adapter.get_relation(database=this.database, schema=previous ~ folder_suffix, identifier=model_name)) }}
{%- endmacro %}
