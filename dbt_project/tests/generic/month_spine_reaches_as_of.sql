{#-
    The month spine ends in the month of as_of: it is cut at var('max_months') months, and a
    silently shortened spine would drop the newest months from mart_provider_results.
-#}
{% test month_spine_reaches_as_of(model) %}

select spine.last_month, as_of.as_of_month
from (select max(as_of_month) as last_month from {{ model }}) spine
cross join {{ ref('int_as_of_resolved') }} as_of
where spine.last_month is not null
  and spine.last_month <> as_of.as_of_month

{% endtest %}
