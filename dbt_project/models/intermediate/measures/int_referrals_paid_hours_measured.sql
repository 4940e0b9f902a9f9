{#-
    Paid-hours measures per referral (metrics.md): any paid hours in the course window,
    baseline and follow-up hours, progression, the first job month J (the first month of the
    course window with hours >= baseline + progression_min_hours: a job the course created or
    widened, not a småjob the citizen already held) and sustainability X months after it
    (hours in J + X above the baseline). Months are counted from the start month M(s) (offset 0); the persons'
    months are already limited to months that ended by as_of, which is what makes
    "last(J) <= as_of" hold for J. A measure whose window has not ended by as_of is NULL.
-#}
{%- set window_months = var('paid_hours_window_months') | int -%}
{%- set followup_months = var('paid_hours_followup_months') | int -%}
{%- set baseline_months = var('paid_hours_baseline_months') | int -%}
{%- set sustain_months = int_list_var('sustain_months') -%}
{%- set last_offset = window_months - 1 -%}
{%- set max_offset = last_offset + (sustain_months | max) -%}
{%- set baseline_hours -%}
    case when month_offset between {{ -baseline_months }} and -1 then paid_hours else 0 end
{%- endset -%}
{%- set followup_hours -%}
    case when month_offset between {{ window_months - followup_months }} and {{ last_offset }} then paid_hours else 0 end
{%- endset %}

with

referrals as (

    select * from {{ ref('int_referrals_collapsed_to_courses') }}

),

paid_hours as (

    select * from {{ ref('int_paid_hours_filtered_to_as_of') }}

),

paid_months_around_start as (

    -- each paid month of the person from the baseline to the last sustainability month,
    -- as an offset from the start month
    select
        referrals.referral_id,
        {{ months_between('referrals.cohort_month', 'paid_hours.paid_month') }} as month_offset,
        paid_hours.paid_hours
    from referrals
    inner join paid_hours
        on paid_hours.person_id = referrals.person_id
       and paid_hours.paid_month >= {{ add_months('referrals.cohort_month', -baseline_months) }}
       and paid_hours.paid_month <= {{ add_months('referrals.cohort_month', max_offset) }}

),

baselines as (

    select
        referral_id,
        coalesce({{ stable_sum(baseline_hours) }}, 0) / {{ baseline_months }}.0 as paid_hours_baseline,
        {{ stable_sum(followup_hours) }} as followup_hours,
        max(case when month_offset between 0 and {{ last_offset }} and paid_hours > 0 then 1 else 0 end)
            as any_paid_month
    from paid_months_around_start
    group by referral_id

),

first_job_month as (

    -- J: the first month of the course window with hours >= baseline + progression_min_hours,
    -- a job the course created or widened (a month without hours has no row and is no job)
    select
        paid_months_around_start.*,
        baselines.paid_hours_baseline,
        min(case
            when paid_months_around_start.month_offset between 0 and {{ last_offset }}
             and paid_months_around_start.paid_hours > 0
             and paid_months_around_start.paid_hours >= baselines.paid_hours_baseline + {{ var('progression_min_hours') }}
            then paid_months_around_start.month_offset
        end) over (partition by paid_months_around_start.referral_id) as job_start_offset
    from paid_months_around_start
    inner join baselines
        on paid_months_around_start.referral_id = baselines.referral_id

),

hours_per_referral as (

    select
        first_job_month.referral_id,
        min(baselines.paid_hours_baseline) as baseline_per_month,
        min(baselines.followup_hours) as followup_hours,
        min(baselines.any_paid_month) as any_paid_month,
        min(first_job_month.job_start_offset) as job_start_offset
        {%- for x in sustain_months %},
        -- still working above the level before the course in month J + X
        max(case
            when first_job_month.month_offset = first_job_month.job_start_offset + {{ x }}
             and first_job_month.paid_hours > first_job_month.paid_hours_baseline
            then 1 else 0
        end) as worked_month_j_plus_{{ x }}
        {%- endfor %}
    from first_job_month
    inner join baselines
        on first_job_month.referral_id = baselines.referral_id
    group by first_job_month.referral_id

),

windows as (

    select
        referrals.referral_id,
        referrals.as_of,
        {{ month_end_after('referrals.start_date', last_offset) }} as paid_hours_window_end,
        {{ add_months('referrals.cohort_month', 'hours_per_referral.job_start_offset') }} as job_start_month,
        coalesce(hours_per_referral.baseline_per_month, 0) as paid_hours_baseline,
        coalesce(hours_per_referral.followup_hours, 0) / {{ followup_months }}.0 as followup_hours_per_month,
        coalesce(hours_per_referral.any_paid_month, 0) = 1 as any_paid_month
        {%- for x in sustain_months %},
        hours_per_referral.worked_month_j_plus_{{ x }}
        {%- endfor %}
    from referrals
    left join hours_per_referral
        on referrals.referral_id = hours_per_referral.referral_id

),

measured as (

    select
        referral_id,
        paid_hours_window_end,
        case
            when paid_hours_window_end <= as_of then any_paid_month
        end as any_paid_hours_6m,
        paid_hours_baseline,
        case
            when paid_hours_window_end <= as_of then followup_hours_per_month
        end as paid_hours_followup,
        case
            when paid_hours_window_end <= as_of then followup_hours_per_month - paid_hours_baseline
        end as paid_hours_progression,
        case
            when paid_hours_window_end <= as_of
                then followup_hours_per_month - paid_hours_baseline >= {{ var('progression_min_hours') }}
        end as progressed,
        job_start_month
        {%- for x in sustain_months %},
        {{ month_end_after('job_start_month', x) }} as sustained_{{ x }}m_window_end,
        case
            when {{ month_end_after('job_start_month', x) }} <= as_of
                then worked_month_j_plus_{{ x }} = 1
        end as sustained_{{ x }}m
        {%- endfor %}
    from windows

)

select * from measured
