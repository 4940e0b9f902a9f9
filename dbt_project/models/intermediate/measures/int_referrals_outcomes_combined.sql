{#-
    One row per referral in scope at as_of: every per-referral measure of metrics.md, the end of
    each measure's window (the day it matures), and the case-mix covariates. An immature measure
    or a referral outside a measure's population is NULL, never FALSE. A course of rebooked
    links (course_id) is measured once, on its last link; its earlier links are NULL throughout.
    The measure models joined here, in intermediate so that int_referral_measures_unpivoted
    reads no mart; the public fct_referral_outcomes is this model as it stands.

    is_course_ended: a course whose last known link ended `rebooked` is continued by a referral
    that may not be known yet, so it counts as ended only from rebooking_max_gap_days after that
    end, the latest day its continuation can start. Otherwise the month the link ended would
    count an ended course in a build of that month and not in a later one, which knows the
    continuation: a past month would change when later data arrives.
-#}
{%- set sustain_months = int_list_var('sustain_months') -%}
{%- set max_gap = var('rebooking_max_gap_days') | int -%}

with

referrals as (

    select * from {{ ref('int_referrals_joined_to_agreements') }}

),

paid_hours as (

    select * from {{ ref('int_referrals_paid_hours_measured') }}

),

self_support as (

    select * from {{ ref('int_referrals_self_support_measured') }}

),

sickness as (

    select * from {{ ref('int_referrals_sickness_measured') }}

),

rehab as (

    select * from {{ ref('int_referrals_rehab_measured') }}

),

results as (

    select * from {{ ref('int_referrals_results_measured') }}

),

costs as (

    select * from {{ ref('int_referrals_costed') }}

),

attendance as (

    select * from {{ ref('int_referrals_attendance_measured') }}

),

case_mix as (

    select * from {{ ref('int_referrals_case_mix_derived') }}

),

chained as (

    select * from {{ ref('int_referrals_chained') }}

),

purpose as (

    select * from {{ ref('int_referrals_purpose_measured') }}

),

retention as (

    select * from {{ ref('int_referrals_retention_measured') }}

),

final as (

    select
        ---------- ids
        referrals.referral_id,
        referrals.person_key,
        referrals.agreement_id,
        referrals.provider_id,
        referrals.provider_name,
        referrals.tender_area,
        referrals.offer_code,
        referrals.jobcenter_unit,
        chained.course_id,
        referrals.is_aftercare,

        ---------- course, as known at as_of
        referrals.start_date,
        referrals.end_date,
        referrals.end_reason,
        referrals.is_ended,
        case
            when chained.is_last_link
                then referrals.is_ended
                    and not coalesce(
                        referrals.end_reason = 'rebooked'
                        and referrals.as_of < {{ add_days('referrals.end_date', max_gap) }},
                        false
                    )
        end as is_course_ended,
        referrals.cohort_month,
        referrals.as_of,

        ---------- paid hours
        paid_hours.any_paid_hours_6m,
        paid_hours.paid_hours_baseline,
        paid_hours.paid_hours_followup,
        paid_hours.paid_hours_progression,
        paid_hours.progressed,
        paid_hours.job_start_month,
        {%- for x in sustain_months %}
        paid_hours.sustained_{{ x }}m,
        {%- endfor %}
        {%- for x in sustain_months %}
        self_support.self_supporting_{{ x }}m,
        {%- endfor %}

        ---------- sickness and rehabilitation
        sickness.sick_listed_at_start,
        sickness.fit_within_6m,
        sickness.fully_fit_within_6m,
        rehab.rehab_grant_within_12m,
        rehab.rehab_grant_type,

        ---------- results, cost, attendance
        results.has_result,
        results.is_closed,
        results.result_type_first,
        costs.course_days,
        costs.cost_dkk,
        attendance.attendance_rate,
        attendance.stable_attendance,

        ---------- purpose and efterværn
        purpose.purpose_achieved,
        retention.retained_6m,

        ---------- case mix
        case_mix.age_at_start,
        case_mix.sex,
        case_mix.benefit_at_start,
        case_mix.benefit_weeks_52,
        case_mix.prior_referrals,
        case_mix.purpose,
        case_mix.start_quarter,

        ---------- window ends (the day each measure matures)
        paid_hours.paid_hours_window_end,
        {%- for x in sustain_months %}
        paid_hours.sustained_{{ x }}m_window_end,
        {%- endfor %}
        {%- for x in sustain_months %}
        self_support.self_supporting_{{ x }}m_window_end,
        {%- endfor %}
        sickness.fit_window_end,
        rehab.rehab_window_end,
        results.result_window_end,
        retention.retained_6m_window_end

    from referrals
    inner join chained on referrals.referral_id = chained.referral_id
    -- measures are computed once per course, on its last link: earlier links get NULL
    left join paid_hours on referrals.referral_id = paid_hours.referral_id
    left join self_support on referrals.referral_id = self_support.referral_id
    left join sickness on referrals.referral_id = sickness.referral_id
    left join rehab on referrals.referral_id = rehab.referral_id
    left join results on referrals.referral_id = results.referral_id
    left join costs on referrals.referral_id = costs.referral_id
    left join attendance on referrals.referral_id = attendance.referral_id
    left join case_mix on referrals.referral_id = case_mix.referral_id
    left join purpose on referrals.referral_id = purpose.referral_id
    left join retention on referrals.referral_id = retention.referral_id

)

select * from final
