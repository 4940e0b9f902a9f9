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
