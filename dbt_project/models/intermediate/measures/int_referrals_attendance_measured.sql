{#-
    Attendance (fremmøde) in the weeks reported up to as_of, over every link of a course (a
    week reported on two links counts once, their hours summed): the attendance rate, attended
    over planned hours; and stable attendance (stabilt fremmøde, metrics.md): of at least
    stable_attendance_min_weeks weeks, in at least stable_attendance_week_share of them attended
    >= stable_attendance_min_rate x planned. Fewer weeks: NULL (outside the population).
-#}
with

referrals as (

    select * from {{ ref('int_referrals_collapsed_to_courses') }}

),

attendance as (

    select * from {{ ref('int_attendance_filtered_to_as_of') }}

),

chained as (

    select * from {{ ref('int_referrals_chained') }}

),

course_weeks as (

    select
        chained.last_referral_id as referral_id,
        attendance.week_start,
        {{ stable_sum('attendance.planned_hours') }} as planned_hours,
        {{ stable_sum('attendance.attended_hours') }} as attended_hours
    from attendance
    inner join chained
        on attendance.referral_id = chained.referral_id
    group by chained.last_referral_id, attendance.week_start

),

summed as (

    select
        referral_id,
        {{ stable_sum('planned_hours') }} as planned_hours,
        {{ stable_sum('attended_hours') }} as attended_hours,
        count(*) as attendance_weeks,
        sum(case
            when attended_hours >= {{ var('stable_attendance_min_rate') }} * planned_hours then 1 else 0
        end) as attended_weeks
    from course_weeks
    group by referral_id

),

final as (

    select
        referrals.referral_id,
        summed.planned_hours,
        summed.attended_hours,
        summed.attended_hours / nullif(summed.planned_hours, 0) as attendance_rate,
        cast(summed.attendance_weeks as {{ dbt.type_int() }}) as attendance_weeks,
        cast(summed.attended_weeks as {{ dbt.type_int() }}) as attended_weeks,
        case
            when summed.attendance_weeks >= {{ var('stable_attendance_min_weeks') }}
                then summed.attended_weeks >= {{ var('stable_attendance_week_share') }} * summed.attendance_weeks
        end as stable_attendance
    from referrals
    left join summed
        on referrals.referral_id = summed.referral_id

)

select * from final
