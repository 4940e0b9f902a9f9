{#-
    A later delivery supersedes an earlier one row by row, by the extract's business key
    (raw-extracts.md). Landing keeps every delivered row; staging keeps the newest: highest
    _delivery_date, then _load_id, then _row_number (docs/warehouse.md).

    Emitted as a QUALIFY clause after `select * from renamed`, so that a staging model keeps
    exactly its two CTEs and the ranking column never becomes part of the model. QUALIFY is
    adapter-specific SQL (DuckDB, Snowflake, BigQuery, Databricks, Redshift have it); an adapter
    without it overrides this macro through adapter.dispatch.
-#}
{% macro qualify_newest_delivery(key_columns) -%}
    {{ return(adapter.dispatch('qualify_newest_delivery', 'provmon')(key_columns)) }}
{%- endmacro %}

{% macro default__qualify_newest_delivery(key_columns) -%}
qualify row_number() over (
    partition by {{ key_columns | join(', ') }}
    order by _delivery_date desc, _load_id desc, _row_number desc
) = 1
{%- endmacro %}

{#- The delivery columns every staging model keeps, for lineage and the newest-delivery rule. -#}
{% macro delivery_columns() -%}
cast(_delivery_date as date) as _delivery_date,
        _load_id,
        _row_number
{%- endmacro %}
