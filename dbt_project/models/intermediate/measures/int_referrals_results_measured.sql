{#-
    Registered results (metrics.md): has_result counts results dated from the start up to
    min(as_of, e + result_grace_days) (for an ongoing referral: up to as_of; results after as_of
    are already gone). A referral is closed when it ended and e + grace is on or before as_of:
    only then is its result status final, so only closed referrals enter the provider base.
    Results on any link of a course count for the course; an aftercare (efterværn) referral is
    outside has_result's population (NULL): its results belong to the course before it.
-#}
with

referrals as (

    select * from {{ ref('int_referrals_collapsed_to_courses') }}

),

results as (

    select * from {{ ref('int_referral_results_filtered_to_as_of') }}

),

chained as (

    select * from {{ ref('int_referrals_chained') }}

),

course_results as (

    -- a result registered on any link of a course is the course's (on its last link)
    select
        chained.last_referral_id as referral_id,
        results.result_date,
        results.result_type
    from results
    inner join chained
        on results.referral_id = chained.referral_id

),

windows as (

    select
        referral_id,
        is_aftercare,
        start_date,
        end_date,
        as_of,
        {{ add_days('end_date', var('result_grace_days')) }} as result_window_end
    from referrals

),

counted_results as (

    select
        windows.referral_id,
        results.result_type,
        row_number() over (
            partition by windows.referral_id
            order by results.result_date, results.result_type
        ) as result_order
    from windows
    inner join course_results as results
        on results.referral_id = windows.referral_id
       and results.result_date >= windows.start_date
       and (windows.result_window_end is null or results.result_date <= windows.result_window_end)
    where not windows.is_aftercare

),

final as (

    select
        windows.referral_id,
        windows.result_window_end,
        case when not windows.is_aftercare then counted_results.referral_id is not null end as has_result,
        coalesce(windows.result_window_end <= windows.as_of, false) as is_closed,
        counted_results.result_type as result_type_first
    from windows
    left join counted_results
        on windows.referral_id = counted_results.referral_id
       and counted_results.result_order = 1

)

select * from final
