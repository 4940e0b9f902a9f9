{#-
    Course days and cost as known at as_of (metrics.md): course_days = min(e, as_of) - s + 1;
    a week price is paid for every started week (ceil(course_days / 7)), a day price per day.
-#}
with

referrals as (

    select * from {{ ref('int_referrals_joined_to_agreements') }}

),

days as (

    select
        referral_id,
        price_model,
        price_dkk,
        {{ days_between('start_date', 'coalesce(end_date, as_of)') }} + 1 as course_days
    from referrals

),

final as (

    select
        referral_id,
        course_days,
        case price_model
            when 'week' then price_dkk * ceil(course_days / 7.0)
            when 'day' then price_dkk * course_days
        end as cost_dkk
    from days

)

select * from final
