{#-
    An 8-byte floating-point type for hours, prices and rates. dbt's type_float() is `float`,
    which is 8 bytes on most engines but a 4-byte REAL on DuckDB (and Spark): hours would lose
    precision in the 7th digit and a progression of exactly progression_min_hours could flip.
-#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    {{ return(dbt.type_float()) }}
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}
