{#- The model has exactly one row (a build parameter resolved once). -#}
{% test exactly_one_row(model) %}

select n_rows
from (select count(*) as n_rows from {{ model }}) counted
where n_rows <> 1

{% endtest %}
