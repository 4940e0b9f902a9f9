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

{#-
    The sum of decimal hours, the same in every build. A parallel aggregate adds a group's rows
    in whatever order its threads meet them, and binary doubles make a + b + c and a + c + b
    differ in the last bit: a progression of exactly progression_min_hours would then pass in
    one build and fail in the next. Rounded to var sum_decimals (far beyond the precision of
    the deliveries), every order gives the same number.
-#}
{% macro stable_sum(expression) -%}
    round(sum({{ expression }}), {{ var('sum_decimals') | int }})
{%- endmacro %}
