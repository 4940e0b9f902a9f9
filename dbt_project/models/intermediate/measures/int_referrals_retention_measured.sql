{#-
    Retention after efterværn (retained_6m, metrics.md): an aftercare course is retained when
    the person has paid hours in month M(s) + retention_months, or is self-supporting in at
    least self_supporting_min_weeks of the self_supporting_weeks weeks whose Mondays are the
    first on or after the 1st of that month (no benefit row but student grant). Mature on the
    later of the month's last day and the Sunday of the last of those weeks; NULL before, and
    NULL for a course that is not aftercare.
-#}
{%- set months = var('retention_months') | int -%}
{%- set n_weeks = var('self_supporting_weeks') | int -%}
{%- set min_weeks = var('self_supporting_min_weeks') | int -%}

with

referrals as (

    select * from {{ ref('int_referrals_collapsed_to_courses') }}

),

paid_hours as (

    select * from {{ ref('int_paid_hours_filtered_to_as_of') }}

),

benefit_spells as (

    select * from {{ ref('int_benefit_weeks_grouped_to_spells') }}

),

retention_months as (

    select
        referral_id,
        person_id,
        as_of,
        {{ add_months('cohort_month', months) }} as retention_month,
        {{ first_monday_on_or_after(add_months('cohort_month', months)) }} as first_monday
    from referrals
    where is_aftercare

),

windows as (

    select
        *,
        {{ add_days('first_monday', 7 * (n_weeks - 1)) }} as last_monday,
        case
            when {{ month_end('retention_month') }} >= {{ add_days('first_monday', 7 * n_weeks - 1) }}
                then {{ month_end('retention_month') }}
            else {{ add_days('first_monday', 7 * n_weeks - 1) }}
        end as retained_window_end
    from retention_months

),

paid_in_month as (

    select distinct
        windows.referral_id
    from windows
    inner join paid_hours
        on paid_hours.person_id = windows.person_id
       and paid_hours.paid_month = windows.retention_month
    where paid_hours.paid_hours > 0

),

benefit_weeks_counted as (

    {{ weeks_on_benefit_in_windows('windows', 'benefit_spells', ['referral_id']) }}

),

final as (

    select
        referrals.referral_id,
        windows.retained_window_end as retained_6m_window_end,
        case
            when windows.retained_window_end <= windows.as_of
                then paid_in_month.referral_id is not null
                  or {{ n_weeks }} - benefit_weeks_counted.weeks_on_benefit >= {{ min_weeks }}
        end as retained_6m
    from referrals
    left join windows
        on referrals.referral_id = windows.referral_id
    left join paid_in_month
        on referrals.referral_id = paid_in_month.referral_id
    left join benefit_weeks_counted
        on referrals.referral_id = benefit_weeks_counted.referral_id

)

select * from final
