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

    Incremental (macro previous_build_relation): a monthly delivery adds about a month of weeks
    to 10^8. A person-week is as the previous published build had it when no load since that
    build delivered a row for the person in that week or later, and both builds' as_of dates
    know the week. So each person's spells of the previous build are kept up to the week before
    the first one that is not (cut at that week, since a spell is a run of Mondays), the weeks
    from there on are ranked again from every delivery of them, and a kept spell that ends the
    week before a new one starts is joined to it. A person the previous build did not have is
    computed from all their weeks. The result is the full computation's, row for row
    (tests/integration/test_build_incremental.py).
-#}
{%- set previous_spells = previous_build_relation(this.identifier) -%}
{%- set previous_persons = previous_build_relation('int_persons_numbered') -%}
{%- set previous_as_of = previous_build_relation('int_as_of_resolved') -%}
{%- set incremental = previous_spells is not none and previous_persons is not none and previous_as_of is not none -%}
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
{%- if incremental %}

previous_spells as (

    select * from {{ previous_spells }}

),

previous_persons as (

    select * from {{ previous_persons }}

),

previous_as_of as (

    select * from {{ previous_as_of }}

),

-- The delivered weeks again, not the CTE above: DuckDB stores a CTE read twice as a whole
-- (10^8 rows nationally), where each of these two reads takes only the rows it needs.
new_benefit_weeks as (

    select * from {{ ref('stg_landing__benefit_weeks') }}
    where _load_id > {{ var('previous_build_loads_through') }}

),

changed_from as (

    -- each person's first week delivered by a load the previous build did not read
    select
        person_key,
        min(week_start) as first_changed_week
    from new_benefit_weeks
    group by person_key

),

kept_through as (

    -- per person, the last day a kept week may start on: the week ended by both as_of dates
    -- and before the first changed week. NULL: a person the previous build did not have, whose
    -- weeks are all computed.
    select
        persons.person_id,
        persons.person_key,
        case when previous_persons.person_key is not null then
            least(
                {{ add_days('least(as_of.as_of, previous_as_of.as_of)', -6) }},
                coalesce({{ add_days('changed_from.first_changed_week', -1) }}, as_of.as_of)
            )
        end as last_kept_day
    from persons
    cross join as_of
    cross join previous_as_of
    left join previous_persons
        on persons.person_key = previous_persons.person_key
    left join changed_from
        on persons.person_key = changed_from.person_key

),

{%- else %}

kept_through as (

    -- the first build, --full-refresh or other code: nothing is kept
    select
        person_id,
        person_key,
        cast(null as date) as last_kept_day
    from persons

),
{%- endif %}

numbered_persons as (

    -- the delivered rows of every person-week not kept
    select
        kept_through.person_id,
        benefit_weeks.week_start,
        -- compared here, so that the ranking below carries no text
        benefit_weeks.benefit_code not in {{ quoted_list(var('benefits_counted_as_self_supporting')) }}
            as is_on_benefit,
        benefit_weeks._delivery_date,
        benefit_weeks._load_id,
        benefit_weeks._row_number
    from benefit_weeks
    inner join kept_through
        on benefit_weeks.person_key = kept_through.person_key
    where kept_through.last_kept_day is null
       or benefit_weeks.week_start > kept_through.last_kept_day

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

computed_spells as (

    select
        person_id,
        min(week_start) as first_week_start,
        max(week_start) as last_week_start,
        count(*) as weeks
    from numbered_spells
    group by person_id, spell_number

),
{%- if incremental %}

previous_spells_cut as (

    -- the previous build's spells under today's person ids, each cut to its weeks on or before
    -- the person's last kept day (a spell's weeks are the Mondays from its first week on)
    select
        kept_through.person_id,
        previous_spells.first_week_start,
        least(
            previous_spells.weeks,
            {{ days_between('previous_spells.first_week_start', 'kept_through.last_kept_day') }} // 7 + 1
        ) as weeks
    from previous_spells
    inner join previous_persons
        on previous_spells.person_id = previous_persons.person_id
    inner join kept_through
        on previous_persons.person_key = kept_through.person_key
    where previous_spells.first_week_start <= kept_through.last_kept_day

),

kept_spells as (

    select
        person_id,
        first_week_start,
        {{ add_days('first_week_start', '7 * (weeks - 1)') }} as last_week_start,
        weeks
    from previous_spells_cut

),

pieces as (

    select * from kept_spells
    union all
    select * from computed_spells

),

pieces_numbered as (

    -- a piece that starts the week after the one before it ends continues that spell
    select
        *,
        sum(case when first_week_start = {{ add_days('previous_last_week_start', 7) }} then 0 else 1 end)
            over (partition by person_id order by first_week_start rows unbounded preceding)
            as spell_number
    from (
        select
            *,
            lag(last_week_start) over (partition by person_id order by first_week_start)
                as previous_last_week_start
        from pieces
    ) as ordered

),

final as (

    select
        person_id,
        min(first_week_start) as first_week_start,
        max(last_week_start) as last_week_start,
        cast(sum(weeks) as {{ dbt.type_bigint() }}) as weeks
    from pieces_numbered
    group by person_id, spell_number

)
{%- else %}

final as (

    select * from computed_spells

)
{%- endif %}

select * from final
