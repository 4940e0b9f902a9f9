with

source as (

    select * from {{ source('landing', 'benefit_weeks') }}

),

renamed as (

    select
        ---------- ids
        cast(person_key as {{ dbt.type_string() }}) as person_key,

        ---------- codes
        lower(benefit) as benefit_code,

        ---------- dates
        cast(week_start as date) as week_start,

        ---------- delivery
        {{ delivery_columns() }}

    from source

)

select * from renamed
