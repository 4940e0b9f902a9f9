{#-
    A list var as an SQL list of string literals, for `column in (...)`: the code lists of
    metrics.md (end reasons that count as fit, grant outcomes, ...) stay vars, not SQL text.
-#}
{% macro quoted_list(values) -%}
    ({%- for value in values -%}
        '{{ value | replace("'", "''") }}'{% if not loop.last %}, {% endif %}
    {%- endfor -%})
{%- endmacro %}

{#- A var that must be a non-empty list of whole numbers (sustain_months). -#}
{% macro int_list_var(name) -%}
    {%- set values = var(name) -%}
    {%- if values is string or values is number or values | length == 0 -%}
        {{ exceptions.raise_compiler_error("var " ~ name ~ " must be a non-empty list of whole numbers, got " ~ values) }}
    {%- endif -%}
    {{ return(values | map('int') | list) }}
{%- endmacro %}
