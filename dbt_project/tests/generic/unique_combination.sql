{#-
    The combination of columns is unique: the business key of an extract with a composite key
    (dbt's built-in unique test takes one column; dbt_utils is not available offline).
-#}
{% test unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
