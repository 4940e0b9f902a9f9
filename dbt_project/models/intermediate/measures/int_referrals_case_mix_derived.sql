{#-
    Case-mix covariates for risk adjustment (metrics.md), all known on the start day: age, sex,
    benefit at start, weeks on benefit in the benefit_history_weeks whole weeks before the week
    of the start, baseline paid hours, the person's earlier referrals, and the start quarter.
-#}
{%- set history_weeks = var('benefit_history_weeks') | int -%}

with

referrals as (

    select * from {{ ref('int_referrals_joined_to_agreements') }}

),

all_referrals as (

    select * from {{ ref('stg_landing__referrals') }}

),

paid_hours_measures as (

    select * from {{ ref('int_referrals_paid_hours_measured') }}

),

benefit_weeks as (

    select * from {{ ref('int_benefit_weeks_filtered_to_as_of') }}

),

start_weeks as (

    select
        referral_id,
        person_key,
        start_date,
        {{ monday_on_or_before('start_date') }} as start_week
    from referrals

),

week_numbers as (

    {{ dbt.generate_series(history_weeks) }}

),

history_weeks as (

    -- the weeks before the week of the start, so that benefit weeks are matched on equality
    select
        start_weeks.referral_id,
        start_weeks.person_key,
        {{ add_days('start_weeks.start_week', '-7 * week_numbers.generated_number') }} as week_start
    from start_weeks
    cross join week_numbers

),

benefit_history as (

    select
        history_weeks.referral_id,
        count(*) as benefit_weeks
    from history_weeks
    inner join benefit_weeks
        on benefit_weeks.person_key = history_weeks.person_key
       and benefit_weeks.week_start = history_weeks.week_start
    group by history_weeks.referral_id

),

earlier_referrals as (

    -- every delivered referral of the person that started before this one, whatever its agreement
    select
        start_weeks.referral_id,
        count(*) as prior_referrals
    from start_weeks
    inner join all_referrals
        on all_referrals.person_key = start_weeks.person_key
       and all_referrals.start_date < start_weeks.start_date
    group by start_weeks.referral_id

),

final as (

    select
        referrals.referral_id,
        cast({{ age_in_whole_years('referrals.birth_date', 'referrals.start_date') }} as {{ dbt.type_int() }}) as age_at_start,
        referrals.sex,
        referrals.benefit_at_start,
        coalesce(benefit_history.benefit_weeks, 0) as benefit_weeks_52,
        paid_hours_measures.paid_hours_baseline,
        coalesce(earlier_referrals.prior_referrals, 0) as prior_referrals,
        referrals.tender_area,
        referrals.offer_code,
        referrals.purpose,
        cast({{ dbt.date_trunc('quarter', 'referrals.start_date') }} as date) as start_quarter
    from referrals
    left join benefit_history
        on referrals.referral_id = benefit_history.referral_id
    left join earlier_referrals
        on referrals.referral_id = earlier_referrals.referral_id
    left join paid_hours_measures
        on referrals.referral_id = paid_hours_measures.referral_id

)

select * from final
