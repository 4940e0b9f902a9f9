{#-
    Case-mix covariates for risk adjustment (metrics.md), all known on the start day: age, sex,
    benefit at start, weeks on benefit in the benefit_history_weeks whole weeks before the week
    of the start, baseline paid hours, the person's earlier courses (a rebooking chain counts
    once), and the start quarter. One row per course, on its last link, with s = its first start.

    The start quarter is the quarter of the year (1-4), a season. A calendar quarter (2021-Q3)
    would be a level of its own in each month's model, fitted on the referrals of that quarter
    whose measure has matured; for a measure that matures at closing (has_result,
    purpose_achieved) the newest quarters hold only the early closers, those with a result, and
    every newly matured referral was then expected about 10 % too many successes (city seed 1),
    which the early-warning CUSUM read as false signals.
-#}
{%- set history_weeks = var('benefit_history_weeks') | int -%}

with

referrals as (

    select * from {{ ref('int_referrals_collapsed_to_courses') }}

),

all_referrals as (

    select * from {{ ref('stg_landing__referrals') }}

),

chained as (

    select * from {{ ref('int_referrals_chained') }}

),

course_starts as (

    -- every delivered referral that starts a course: not a later link of a course chain
    select
        all_referrals.person_key,
        all_referrals.start_date
    from all_referrals
    left join chained
        on all_referrals.referral_id = chained.referral_id
    where coalesce(chained.link_number, 1) = 1

),

paid_hours_measures as (

    select * from {{ ref('int_referrals_paid_hours_measured') }}

),

benefit_spells as (

    select * from {{ ref('int_benefit_weeks_grouped_to_spells') }}

),

start_weeks as (

    select
        referral_id,
        person_key,
        person_id,
        start_date,
        {{ monday_on_or_before('start_date') }} as start_week
    from referrals

),

history_windows as (

    -- the history_weeks whole weeks before the week of the start
    select
        referral_id,
        person_id,
        {{ add_days('start_week', -7 * history_weeks) }} as first_monday,
        {{ add_days('start_week', -7) }} as last_monday
    from start_weeks

),

benefit_history as (

    {{ weeks_on_benefit_in_windows('history_windows', 'benefit_spells', ['referral_id']) }}

),

earlier_referrals as (

    -- every course of the person that started before this one, whatever its agreement
    select
        start_weeks.referral_id,
        count(*) as prior_referrals
    from start_weeks
    inner join course_starts
        on course_starts.person_key = start_weeks.person_key
       and course_starts.start_date < start_weeks.start_date
    group by start_weeks.referral_id

),

final as (

    select
        referrals.referral_id,
        cast({{ age_in_whole_years('referrals.birth_date', 'referrals.start_date') }} as {{ dbt.type_int() }}) as age_at_start,
        referrals.sex,
        referrals.benefit_at_start,
        cast(benefit_history.weeks_on_benefit as {{ dbt.type_int() }}) as benefit_weeks_52,
        paid_hours_measures.paid_hours_baseline,
        coalesce(earlier_referrals.prior_referrals, 0) as prior_referrals,
        referrals.tender_area,
        referrals.offer_code,
        referrals.purpose,
        cast(extract(quarter from referrals.start_date) as {{ dbt.type_int() }}) as start_quarter
    from referrals
    left join benefit_history
        on referrals.referral_id = benefit_history.referral_id
    left join earlier_referrals
        on referrals.referral_id = earlier_referrals.referral_id
    left join paid_hours_measures
        on referrals.referral_id = paid_hours_measures.referral_id

)

select * from final
