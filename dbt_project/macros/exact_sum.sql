{#-
    A sum of decimal values that is exact, so the same in every build. A parallel aggregate
    (or a window without an order) adds a group's doubles in whatever order its threads meet
    them, and a + b + c differs from a + c + b in the last bits: value_sum and the means
    derived from it changed by 1e-14 from one build of the same data to the next. Summed as a
    decimal with var sum_decimals places (a 128-bit integer inside), every order gives the same
    number; cast to double only where the public column is written.
-#}
{% macro exact_decimal() -%}
    decimal(38, {{ var('sum_decimals') | int }})
{%- endmacro %}

{% macro exact_sum(expression) -%}
    sum(cast({{ expression }} as {{ exact_decimal() }}))
{%- endmacro %}
