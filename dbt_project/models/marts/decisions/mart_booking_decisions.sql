-- depends_on: {{ ref('fct_decision_inputs') }}
-- depends_on: {{ ref('dim_parameters') }}
-- The decision step (`provmon decide`) reads fct_decision_inputs and dim_parameters and writes
-- the store this view publishes; the depends_on lines draw that step in dbt's lineage.

with booking_decisions as (
    select * from {{ source('decisions', 'booking_decisions') }}
)

select * from booking_decisions
