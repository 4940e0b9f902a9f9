{#- Attendance rate: attended over planned hours in the weeks reported up to as_of. -#}
with

referrals as (

    select * from {{ ref('int_referrals_joined_to_agreements') }}

),

attendance as (

    select * from {{ ref('int_attendance_filtered_to_as_of') }}

),

summed as (

    select
        attendance.referral_id,
        {{ stable_sum('attendance.planned_hours') }} as planned_hours,
        {{ stable_sum('attendance.attended_hours') }} as attended_hours
    from attendance
    group by attendance.referral_id

),

final as (

    select
        referrals.referral_id,
        summed.planned_hours,
        summed.attended_hours,
        summed.attended_hours / nullif(summed.planned_hours, 0) as attendance_rate
    from referrals
    left join summed
        on referrals.referral_id = summed.referral_id

)

select * from final
