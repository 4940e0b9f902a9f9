with

source as (

    select * from {{ source('landing', 'paid_hours') }}

),

renamed as (

    select
        ---------- ids
        cast(person_key as {{ dbt.type_string() }}) as person_key,

        ---------- numerics
        cast(hours as {{ type_double() }}) as paid_hours,

        ---------- dates
        {{ month_start('month') }} as paid_month,

        ---------- delivery
        {{ delivery_columns() }}

    from source

)

select * from renamed
{{ qualify_newest_delivery(['person_key', 'paid_month']) }}
