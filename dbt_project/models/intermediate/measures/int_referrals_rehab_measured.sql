{#-
    Rehabilitation-team grant (bevilling: flex job, disability pension or resource course)
    decided within rehab_window_days of the start (metrics.md), and the type of the first such
    grant. Mature on s + rehab_window_days; NULL before.
-#}
with

referrals as (

    select * from {{ ref('int_referrals_collapsed_to_courses') }}

),

decisions as (

    select * from {{ ref('int_rehab_decisions_filtered_to_as_of') }}

),

windows as (

    select
        referral_id,
        person_key,
        start_date,
        as_of,
        {{ add_days('start_date', var('rehab_window_days')) }} as rehab_window_end
    from referrals

),

grants_in_window as (

    select
        windows.referral_id,
        decisions.outcome,
        row_number() over (
            partition by windows.referral_id
            order by decisions.decision_date, decisions.decision_id
        ) as grant_order
    from windows
    inner join decisions
        on decisions.person_key = windows.person_key
       and decisions.decision_date >= windows.start_date
       and decisions.decision_date <= windows.rehab_window_end
    where decisions.outcome in {{ quoted_list(var('rehab_grant_outcomes')) }}

),

final as (

    select
        windows.referral_id,
        windows.rehab_window_end,
        case
            when windows.rehab_window_end <= windows.as_of then grants_in_window.outcome is not null
        end as rehab_grant_within_12m,
        case
            when windows.rehab_window_end <= windows.as_of then grants_in_window.outcome
        end as rehab_grant_type
    from windows
    left join grants_in_window
        on windows.referral_id = grants_in_window.referral_id
       and grants_in_window.grant_order = 1

)

select * from final
