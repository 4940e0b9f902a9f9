with

source as (

    select * from {{ source('landing', 'attendance') }}

),

renamed as (

    select
        ---------- ids
        cast(referral_id as {{ dbt.type_string() }}) as referral_id,

        ---------- numerics
        cast(planned_hours as {{ type_double() }}) as planned_hours,
        cast(attended_hours as {{ type_double() }}) as attended_hours,

        ---------- dates
        cast(week_start as date) as week_start,

        ---------- delivery
        {{ delivery_columns() }}

    from source

)

select * from renamed
{{ qualify_newest_delivery(['referral_id', 'week_start']) }}
