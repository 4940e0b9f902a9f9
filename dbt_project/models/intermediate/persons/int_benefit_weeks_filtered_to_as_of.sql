{#-
    The person-weeks on public benefit, as known at as_of: only weeks that have ended (their
    Sunday is on or before as_of), and only benefits that do not count as self-supporting (a
    student grant week counts as a week without benefit, metrics.md). A person-week that is
    not here is self-supporting.
-#}
with

benefit_weeks as (

    select * from {{ ref('stg_landing__benefit_weeks') }}

),

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

final as (

    select
        benefit_weeks.person_key,
        benefit_weeks.week_start,
        benefit_weeks.benefit_code
    from benefit_weeks
    cross join as_of
    where {{ add_days('benefit_weeks.week_start', 6) }} <= as_of.as_of
      and benefit_weeks.benefit_code not in {{ quoted_list(var('benefits_counted_as_self_supporting')) }}

)

select * from final
