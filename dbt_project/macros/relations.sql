{#-
    A model as a view of another model reads it through ref_within_warehouse: dbt writes the
    catalog into a relation ("warehouse"."schema"."table", the catalog named after the file), and
    DuckDB keeps that name in the view's text, so the view would fail wherever the warehouse is
    attached under another name (`attach 'warehouse.duckdb' as w`). Without the catalog, DuckDB
    resolves the name in the view's own database, whatever it is called there.
-#}
{% macro ref_within_warehouse(model_name) -%}
    {{ return(ref(model_name).include(database=False)) }}
{%- endmacro %}
