{#-
    The expected monthly volume of new referrals per tender area and as-of month: the mean
    bookings per month over the booking_volume_months months ending with the as-of month (a
    month without bookings counts as 0). Bookings are every delivered referral with its booking
    date (booked_on) and its agreement's tender area; the allocation of the decisions divides
    this volume among the providers.
-#}
with

referrals as (

    select * from {{ ref('stg_landing__referrals') }}

),

agreements as (

    select * from {{ ref('stg_landing__agreements') }}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

),

bookings as (

    select
        agreements.tender_area,
        referrals.booked_on
    from referrals
    inner join agreements
        on referrals.agreement_id = agreements.agreement_id

),

areas as (

    select distinct tender_area
    from agreements
    where tender_area is not null

),

area_months as (

    select
        months.as_of_month,
        areas.tender_area,
        {{ add_months('months.as_of_month', 1 - var('booking_volume_months')) }} as window_start,
        {{ month_end('months.as_of_month') }} as window_end
    from months
    cross join areas

),

counted as (

    select
        area_months.as_of_month,
        area_months.tender_area,
        count(bookings.booked_on) as bookings_in_window
    from area_months
    left join bookings
        on bookings.tender_area = area_months.tender_area
        and bookings.booked_on between area_months.window_start and area_months.window_end
    group by area_months.as_of_month, area_months.tender_area

),

final as (

    select
        as_of_month,
        tender_area,
        bookings_in_window,
        cast(bookings_in_window as {{ type_double() }}) / {{ var('booking_volume_months') }}
            as area_booking_volume
    from counted

)

select * from final
