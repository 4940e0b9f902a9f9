-- depends_on: {{ ref('mart_booking_decisions') }}
-- The allocation follows the states of mart_booking_decisions (both written by `provmon decide`).

with booking_allocation as (
    select * from {{ source('decisions', 'booking_allocation') }}
)

select * from booking_allocation
