{#- A ratio that is NULL, not an error, when the denominator is 0 or NULL (an empty base). -#}
{% macro safe_divide(numerator, denominator) -%}
    (cast({{ numerator }} as {{ type_double() }}) / nullif({{ denominator }}, 0))
{%- endmacro %}

{#-
    A bound of the Wilson score interval for successes out of n (metrics.md: proportions use the
    Wilson interval): (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), sign -1 for the lower
    and +1 for the upper bound. NULL for n = 0. At the edges the bound is exact (0 successes: lower
    bound 0; n successes: upper bound 1): the formula gives them only up to rounding, and a lower
    bound of -1e-17 or an upper bound just below a rate of 1 would break the interval's meaning.
-#}
{% macro wilson_bound(successes, n, z, sign) -%}
    case
    when {{ n }} > 0 and {{ successes }} = {{ '0' if sign < 0 else n }} then {{ '0.0' if sign < 0 else '1.0' }}
    when {{ n }} > 0 then (
        ({{ successes }} * 1.0 / {{ n }} + {{ z }} * {{ z }} / (2.0 * {{ n }}))
        {{ '-' if sign < 0 else '+' }} {{ z }} * sqrt(
            ({{ successes }} * 1.0 / {{ n }}) * (1 - {{ successes }} * 1.0 / {{ n }}) / {{ n }}
            + {{ z }} * {{ z }} / (4.0 * {{ n }} * {{ n }})
        )
    ) / (1 + {{ z }} * {{ z }} / {{ n }}) end
{%- endmacro %}
