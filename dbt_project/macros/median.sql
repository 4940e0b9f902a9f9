{#- Median as an aggregate: engines spell it differently (median, percentile_cont, approx). -#}
{% macro median(expr) -%}
    {{ return(adapter.dispatch('median', 'provmon')(expr)) }}
{%- endmacro %}

{% macro default__median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__median(expr) -%}
    median({{ expr }})
{%- endmacro %}
