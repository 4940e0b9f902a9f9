{#-
    Course chains (metrics.md, "Course chains"): until the tender of 1 July 2024 a change of
    weekly hours ended the referral (end_reason `rebooked`) and booked a new one (ombooking).
    A referral continues the one it names in previous_referral_id when that one ended
    `rebooked` (as known at as_of); where a rebooked referral is named by none, it is continued
    by the same person's next referral to the same provider and tender area that starts 0 to
    rebooking_max_gap_days days after its end and names no predecessor itself. A course is a
    maximal chain; course_id is its first referral. Links only go forward in (start_date,
    referral_id), so a chain can never loop.
-#}
{%- set max_gap = var('rebooking_max_gap_days') | int -%}

with recursive

referrals as (

    select * from {{ ref('int_referrals_joined_to_agreements') }}

),

rebooked as (

    select * from referrals
    where end_reason = 'rebooked'

),

named_candidates as (

    -- the continuation names its predecessor, which must have ended rebooked before it
    select
        successors.referral_id,
        rebooked.referral_id as previous_referral_id,
        rebooked.end_date as previous_end_date
    from referrals as successors
    inner join rebooked
        on successors.previous_referral_id = rebooked.referral_id
       and (rebooked.start_date < successors.start_date
            or (rebooked.start_date = successors.start_date and rebooked.referral_id < successors.referral_id))

),

named_links as (

    -- one continuation per rebooked referral: the first that names it
    select
        referral_id,
        previous_referral_id,
        'named' as link_source
    from (
        select
            named_candidates.*,
            row_number() over (
                partition by previous_referral_id
                order by referral_id
            ) as successor_order
        from named_candidates
    ) as ranked
    where successor_order = 1

),

inferred_candidates as (

    -- a rebooked referral that no continuation names: the person's next referral to the same
    -- provider and tender area starting within rebooking_max_gap_days after its end
    select
        successors.referral_id,
        rebooked.referral_id as previous_referral_id,
        row_number() over (
            partition by rebooked.referral_id
            order by successors.start_date, successors.referral_id
        ) as successor_order,
        row_number() over (
            partition by successors.referral_id
            order by rebooked.end_date desc, rebooked.referral_id desc
        ) as predecessor_order
    from rebooked
    inner join referrals as successors
        on successors.person_key = rebooked.person_key
       and successors.provider_id = rebooked.provider_id
       and successors.tender_area = rebooked.tender_area
       and successors.referral_id <> rebooked.referral_id
       and successors.start_date >= rebooked.end_date
       and successors.start_date <= {{ add_days('rebooked.end_date', max_gap) }}
       and (rebooked.start_date < successors.start_date
            or (rebooked.start_date = successors.start_date and rebooked.referral_id < successors.referral_id))
    where successors.previous_referral_id is null
      and rebooked.referral_id not in (select previous_referral_id from named_links)

),

inferred_links as (

    select
        referral_id,
        previous_referral_id,
        'inferred' as link_source
    from inferred_candidates
    where successor_order = 1
      and predecessor_order = 1

),

links as (

    select * from named_links
    union all
    select * from inferred_links

),

chains as (

    -- from each course's first referral along its links
    select
        referrals.referral_id,
        referrals.referral_id as course_id,
        1 as link_number
    from referrals
    where referrals.referral_id not in (select referral_id from links)

    union all

    select
        links.referral_id,
        chains.course_id,
        chains.link_number + 1 as link_number
    from chains
    inner join links
        on links.previous_referral_id = chains.referral_id

),

courses as (

    select
        chains.course_id,
        count(*) as links_in_course,
        max(chains.link_number) as last_link_number
    from chains
    group by chains.course_id

),

final as (

    select
        chains.referral_id,
        chains.course_id,
        links.previous_referral_id,
        links.link_source,
        chains.link_number,
        courses.links_in_course,
        chains.link_number = courses.last_link_number as is_last_link,
        last_links.referral_id as last_referral_id,
        first_links.start_date as course_start_date,
        last_links.end_date as course_end_date
    from chains
    inner join courses
        on chains.course_id = courses.course_id
    inner join chains as last_chain_links
        on last_chain_links.course_id = chains.course_id
       and last_chain_links.link_number = courses.last_link_number
    inner join referrals as last_links
        on last_links.referral_id = last_chain_links.referral_id
    inner join referrals as first_links
        on first_links.referral_id = chains.course_id
    left join links
        on chains.referral_id = links.referral_id

)

select * from final
