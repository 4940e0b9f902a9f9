{#-
    The person-weeks on benefit (as known at as_of) grouped into spells of consecutive weeks.
    Benefit weeks come in long runs, so spells are about a hundred times fewer rows than weeks:
    the measures that count benefit weeks in a window (self-support, benefit history) overlap
    a window with a person's few spells instead of joining every week.
-#}
with

benefit_weeks as (

    select * from {{ ref('int_benefit_weeks_filtered_to_as_of') }}

),

numbered as (

    -- consecutive weeks of a person share (week number - rank among the person's weeks)
    select
        person_id,
        week_start,
        cast({{ days_between("cast('1900-01-01' as date)", 'week_start') }} / 7 as {{ dbt.type_int() }})
            - row_number() over (partition by person_id order by week_start) as spell_number
    from benefit_weeks

),

final as (

    select
        person_id,
        min(week_start) as first_week_start,
        max(week_start) as last_week_start,
        count(*) as weeks
    from numbered
    group by person_id, spell_number

)

select * from final
