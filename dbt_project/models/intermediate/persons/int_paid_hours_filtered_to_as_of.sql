{#-
    Paid hours per referred person and month, only for months that have ended by as_of: a month
    still running at as_of is not yet known (so a job start in it does not exist yet,
    metrics.md). Months without hours are left out; a missing person-month means 0 hours.
-#}
with

paid_hours as (

    select * from {{ ref('stg_landing__paid_hours') }}

),

persons as (

    select * from {{ ref('int_persons_numbered') }}

),

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

final as (

    select
        persons.person_id,
        paid_hours.paid_month,
        paid_hours.paid_hours
    from paid_hours
    inner join persons
        on paid_hours.person_key = persons.person_key
    cross join as_of
    where {{ month_end('paid_hours.paid_month') }} <= as_of.as_of
      and paid_hours.paid_hours > 0

)

select * from final
