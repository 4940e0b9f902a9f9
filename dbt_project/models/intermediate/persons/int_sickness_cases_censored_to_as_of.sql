{#-
    Sickness-benefit cases as known at as_of: a case that starts after as_of does not exist
    yet, and one that ends after as_of is still open (no end date, no end reason).
-#}
with

cases as (

    select * from {{ ref('stg_landing__sickness_cases') }}

),

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

final as (

    select
        cases.case_id,
        cases.person_key,
        cases.first_sick_day,
        case when cases.case_end_date <= as_of.as_of then cases.case_end_date end as case_end_date,
        case when cases.case_end_date <= as_of.as_of then cases.end_reason end as end_reason
    from cases
    cross join as_of
    where cases.first_sick_day <= as_of.as_of

)

select * from final
