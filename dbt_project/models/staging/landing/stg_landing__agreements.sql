with

source as (

    select * from {{ source('landing', 'agreements') }}

),

renamed as (

    select
        ---------- ids
        cast(agreement_id as {{ dbt.type_string() }}) as agreement_id,
        cast(provider_id as {{ dbt.type_string() }}) as provider_id,

        ---------- codes
        cast(tender_area as {{ dbt.type_int() }}) as tender_area,
        lower(offer_code) as offer_code,
        lower(price_model) as price_model,

        ---------- numerics
        cast(price_dkk as {{ type_double() }}) as price_dkk,
        cast(capacity_per_month as {{ dbt.type_int() }}) as capacity_per_month,

        ---------- dates
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,

        ---------- delivery
        {{ delivery_columns() }}

    from source

)

select * from renamed
{{ qualify_newest_delivery(['agreement_id']) }}
