with

source as (

    select * from {{ source('landing', 'referral_results') }}

),

renamed as (

    select
        ---------- ids
        cast(referral_id as {{ dbt.type_string() }}) as referral_id,

        ---------- codes
        lower(result_type) as result_type,

        ---------- dates
        cast(result_date as date) as result_date,

        ---------- delivery
        {{ delivery_columns() }}

    from source

)

select * from renamed
{{ qualify_newest_delivery(['referral_id', 'result_date', 'result_type']) }}
