{#-
    Declared fit (raskmeldt) within fit_window_days of the start (metrics.md). Population: the
    referrals with a sickness case open on the start day (first sick day on or before s, and no
    end known at as_of or an end on or after s). Success: such a case ended with a fit reason
    on a day in [s, s + fit_window_days]. Mature on s + fit_window_days; NULL before, and NULL
    outside the population.
-#}
with

referrals as (

    select * from {{ ref('int_referrals_collapsed_to_courses') }}

),

cases as (

    select * from {{ ref('int_sickness_cases_censored_to_as_of') }}

),

windows as (

    select
        referral_id,
        person_key,
        start_date,
        as_of,
        {{ add_days('start_date', var('fit_window_days')) }} as fit_window_end
    from referrals

),

cases_open_at_start as (

    select
        windows.referral_id,
        max(case
            when cases.end_reason in {{ quoted_list(var('fit_end_reasons')) }}
             and cases.case_end_date <= windows.fit_window_end
            then 1 else 0
        end) as declared_fit,
        max(case
            when cases.end_reason in {{ quoted_list(var('fully_fit_end_reasons')) }}
             and cases.case_end_date <= windows.fit_window_end
            then 1 else 0
        end) as declared_fully_fit
    from windows
    inner join cases
        on cases.person_key = windows.person_key
       and cases.first_sick_day <= windows.start_date
       and (cases.case_end_date is null or cases.case_end_date >= windows.start_date)
    group by windows.referral_id

),

final as (

    select
        windows.referral_id,
        windows.fit_window_end,
        cases_open_at_start.referral_id is not null as sick_listed_at_start,
        case
            when windows.fit_window_end <= windows.as_of and cases_open_at_start.referral_id is not null
                then cases_open_at_start.declared_fit = 1
        end as fit_within_6m,
        case
            when windows.fit_window_end <= windows.as_of and cases_open_at_start.referral_id is not null
                then cases_open_at_start.declared_fully_fit = 1
        end as fully_fit_within_6m
    from windows
    left join cases_open_at_start
        on windows.referral_id = cases_open_at_start.referral_id

)

select * from final
