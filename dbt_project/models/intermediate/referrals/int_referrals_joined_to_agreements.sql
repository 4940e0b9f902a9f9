{#-
    The referrals in scope at as_of (start_date <= as_of) whose agreement and provider are
    known, with the agreement's provider, tender area, offer and price. Everything after as_of
    is not yet known: an end_date after as_of means the referral is still ongoing, and its end
    reason is not known either. Referrals left out for a missing parent are counted in
    mart_data_exclusions.
-#}
with

referrals as (

    select * from {{ ref('stg_landing__referrals') }}

),

agreements as (

    select * from {{ ref('stg_landing__agreements') }}

),

providers as (

    select * from {{ ref('stg_landing__providers') }}

),

persons as (

    select * from {{ ref('int_persons_numbered') }}

),

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

referrals_started as (

    select
        referrals.*,
        as_of.as_of
    from referrals
    cross join as_of
    where referrals.start_date <= as_of.as_of

),

joined as (

    select
        ---------- ids
        referrals_started.referral_id,
        referrals_started.person_key,
        persons.person_id,
        referrals_started.agreement_id,
        agreements.provider_id,
        providers.provider_name,
        referrals_started.jobcenter_unit,
        referrals_started.previous_referral_id,

        ---------- agreement
        agreements.tender_area,
        agreements.offer_code,
        agreements.offer_code in {{ quoted_list(var('aftercare_offers') | map('lower') | list) }} as is_aftercare,
        agreements.price_model,
        agreements.price_dkk,

        ---------- person
        referrals_started.birth_date,
        referrals_started.sex,

        ---------- codes
        referrals_started.purpose,
        referrals_started.benefit_at_start,
        case
            when referrals_started.end_date <= referrals_started.as_of
                then referrals_started.end_reason
        end as end_reason,

        ---------- numerics
        referrals_started.hours_min,
        referrals_started.hours_max,

        ---------- dates
        referrals_started.booked_on,
        referrals_started.start_date,
        referrals_started.planned_end_date,
        case
            when referrals_started.end_date <= referrals_started.as_of
                then referrals_started.end_date
        end as end_date,
        {{ month_start('referrals_started.start_date') }} as cohort_month,
        referrals_started.as_of

    from referrals_started
    inner join agreements
        on referrals_started.agreement_id = agreements.agreement_id
    inner join providers
        on agreements.provider_id = providers.provider_id
    inner join persons
        on referrals_started.person_key = persons.person_key

),

final as (

    select
        *,
        end_date is not null as is_ended
    from joined

)

select * from final
