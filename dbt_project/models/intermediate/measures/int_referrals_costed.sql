{#-
    Course days and cost as known at as_of (metrics.md): per referral, course_days =
    min(e, as_of) - s + 1; a week price is paid for every started week (ceil(course_days / 7)),
    a day price per day. A course of several links (int_referrals_chained) has the sums over
    its links, each link at its own agreement's price, on its last link.
-#}
with

referrals as (

    select * from {{ ref('int_referrals_joined_to_agreements') }}

),

chained as (

    select * from {{ ref('int_referrals_chained') }}

),

days as (

    select
        referral_id,
        price_model,
        price_dkk,
        {{ days_between('start_date', 'coalesce(end_date, as_of)') }} + 1 as course_days
    from referrals

),

link_costs as (

    select
        referral_id,
        course_days,
        case price_model
            when 'week' then price_dkk * ceil(course_days / 7.0)
            when 'day' then price_dkk * course_days
        end as cost_dkk
    from days

),

final as (

    select
        chained.last_referral_id as referral_id,
        cast(sum(link_costs.course_days) as {{ dbt.type_int() }}) as course_days,
        sum(link_costs.cost_dkk) as cost_dkk
    from link_costs
    inner join chained
        on link_costs.referral_id = chained.referral_id
    group by chained.last_referral_id

)

select * from final
