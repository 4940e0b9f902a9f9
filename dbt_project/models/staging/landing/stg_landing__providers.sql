with

source as (

    select * from {{ source('landing', 'providers') }}

),

renamed as (

    select
        ---------- ids
        cast(provider_id as {{ dbt.type_string() }}) as provider_id,

        ---------- text
        cast(provider_name as {{ dbt.type_string() }}) as provider_name,
        cast(cvr as {{ dbt.type_string() }}) as cvr,

        ---------- delivery
        {{ delivery_columns() }}

    from source

)

select * from renamed
{{ qualify_newest_delivery(['provider_id']) }}
