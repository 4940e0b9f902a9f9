{#-
    Every as-of month from the month of the first referral start to the month of as_of, with
    the date that month is evaluated at: its last day, or as_of itself for a build whose as_of
    is not a month end. mart_provider_results has one row per such month, so trends and
    back-tests need no rebuilds.
-#}
with

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

referrals as (

    select * from {{ ref('int_referrals_joined_to_agreements') }}

),

first_month as (

    select min(cohort_month) as first_month
    from referrals

),

numbers as (

    {{ dbt.generate_series(var('max_months')) }}

),

months as (

    select
        {{ add_months('first_month.first_month', 'numbers.generated_number - 1') }} as as_of_month,
        as_of.as_of,
        as_of.as_of_month as last_as_of_month
    from numbers
    cross join first_month
    cross join as_of

),

final as (

    select
        as_of_month,
        case
            when as_of_month = last_as_of_month then as_of
            else {{ month_end('as_of_month') }}
        end as as_of_date
    from months
    where as_of_month <= last_as_of_month

)

select * from final
