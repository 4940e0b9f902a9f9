{#-
    The person-weeks on public benefit as known at as_of, for referred persons: the newest
    delivery per person and week (taken here rather than in staging, after the person is
    numbered; see int_persons_numbered), then only weeks that have ended (their Sunday is on or
    before as_of), and only benefits that do not count as self-supporting (a student grant week
    counts as a week without benefit, metrics.md). A person-week that is not here is
    self-supporting.
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

numbered as (

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

    select * from numbered
    {{ qualify_newest_delivery(['person_id', 'week_start']) }}

),

final as (

    select
        newest.person_id,
        newest.week_start
    from newest
    cross join as_of
    where {{ add_days('newest.week_start', 6) }} <= as_of.as_of
      and newest.is_on_benefit

)

select * from final
