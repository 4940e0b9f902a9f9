{#- Attendance weeks known at as_of: weeks that start after as_of are not reported yet. -#}
with

attendance as (

    select * from {{ ref('stg_landing__attendance') }}

),

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

final as (

    select
        attendance.referral_id,
        attendance.week_start,
        attendance.planned_hours,
        attendance.attended_hours
    from attendance
    cross join as_of
    where attendance.week_start <= as_of.as_of

)

select * from final
