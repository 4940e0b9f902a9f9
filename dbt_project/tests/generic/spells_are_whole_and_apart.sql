{#-
    Spells of consecutive weeks are whole and apart: a spell counts one week per Monday from its
    first to its last, and a person's next spell starts after a week without a row. A week
    counted twice (two rows of one person-week) breaks one or the other, so this is also the
    key test of the weeks the spells are grouped from.
-#}
{% test spells_are_whole_and_apart(model, partition_by, first_week, last_week, weeks) %}

with

ordered as (

    select
        {{ partition_by }} as spell_owner,
        {{ first_week }} as first_week,
        {{ last_week }} as last_week,
        {{ weeks }} as weeks,
        lead({{ first_week }}) over (partition by {{ partition_by }} order by {{ first_week }})
            as next_first_week
    from {{ model }}

)

select *
from ordered
where weeks * 7 != {{ days_between('first_week', 'last_week') }} + 7
   or next_first_week <= {{ add_days('last_week', 7) }}

{% endtest %}
