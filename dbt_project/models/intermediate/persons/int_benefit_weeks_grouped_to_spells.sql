{#-
    The person-weeks on public benefit as known at as_of, for referred persons, grouped into
    spells of consecutive weeks. Benefit weeks come in long runs, so spells are about a hundred
    times fewer rows than weeks: the measures that count benefit weeks in a window (self-support,
    benefit history) overlap a window with a person's few spells instead of joining every week.

    A week is the newest delivery per person and week (taken here rather than in staging, after
    the person is numbered; see int_persons_numbered), only if it has ended (its Sunday is on or
    before as_of), and only for a benefit that does not count as self-supporting (a student grant
    week counts as a week without benefit, metrics.md). A person-week in no spell is
    self-supporting.

    The weeks are a CTE, not a model of their own: at 10^8 rows nationally, a stored or tested
    week model costs 20 to 40 s per build, and the spells' tests (unique first week, spells
    whole and apart) fail on a person-week counted twice just as a key test on the weeks would.
-#}
with

benefit_weeks as (

    select * from {{ ref('stg_landing__benefit_weeks') }}

),

persons as (

    select * from {{ ref('int_persons_numbered') }}

),

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

numbered_persons as (

    select
        persons.person_id,
        benefit_weeks.week_start,
        -- compared here, so that the ranking below carries no text
        benefit_weeks.benefit_code not in {{ quoted_list(var('benefits_counted_as_self_supporting')) }}
            as is_on_benefit,
        benefit_weeks._delivery_date,
        benefit_weeks._load_id,
        benefit_weeks._row_number
    from benefit_weeks
    inner join persons
        on benefit_weeks.person_key = persons.person_key

),

newest as (

    select * from numbered_persons
    {{ qualify_newest_delivery(['person_id', 'week_start']) }}

),

weeks_on_benefit as (

    select
        newest.person_id,
        newest.week_start
    from newest
    cross join as_of
    where {{ add_days('newest.week_start', 6) }} <= as_of.as_of
      and newest.is_on_benefit

),

numbered_spells as (

    -- consecutive weeks of a person share (week number - rank among the person's weeks)
    select
        person_id,
        week_start,
        cast({{ days_between("cast('1900-01-01' as date)", 'week_start') }} / 7 as {{ dbt.type_int() }})
            - row_number() over (partition by person_id order by week_start) as spell_number
    from weeks_on_benefit

),

final as (

    select
        person_id,
        min(week_start) as first_week_start,
        max(week_start) as last_week_start,
        count(*) as weeks
    from numbered_spells
    group by person_id, spell_number

)

select * from final
