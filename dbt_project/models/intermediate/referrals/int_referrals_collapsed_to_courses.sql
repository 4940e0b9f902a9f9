{#-
    One row per course (int_referrals_chained), keyed by the referral_id of its last link known
    at as_of: the row every measure model computes on (metrics.md: "every measure of a course is
    computed once, on its last referral, with s = the chain's first start and e = its last
    end"). Start, start month and what was set at the first booking (booked_on, benefit at
    start) come from the first link; end, end reason, agreement, offer and purpose from the
    last. A course of one referral is that referral unchanged.
-#}
with

referrals as (

    select * from {{ ref('int_referrals_joined_to_agreements') }}

),

chained as (

    select * from {{ ref('int_referrals_chained') }}

),

final as (

    select
        ---------- ids
        last_links.referral_id,
        chained.course_id,
        chained.links_in_course,
        last_links.person_key,
        last_links.person_id,
        last_links.agreement_id,
        last_links.provider_id,
        last_links.provider_name,
        last_links.jobcenter_unit,

        ---------- agreement
        last_links.tender_area,
        last_links.offer_code,
        last_links.is_aftercare,
        last_links.price_model,
        last_links.price_dkk,

        ---------- person
        last_links.birth_date,
        last_links.sex,

        ---------- codes
        last_links.purpose,
        first_links.benefit_at_start,
        last_links.end_reason,

        ---------- numerics
        last_links.hours_min,
        last_links.hours_max,

        ---------- dates
        first_links.booked_on,
        first_links.start_date,
        last_links.planned_end_date,
        last_links.end_date,
        first_links.cohort_month,
        last_links.as_of,
        last_links.is_ended

    from chained
    inner join referrals as last_links
        on chained.referral_id = last_links.referral_id
    inner join referrals as first_links
        on chained.course_id = first_links.referral_id
    where chained.is_last_link

)

select * from final
