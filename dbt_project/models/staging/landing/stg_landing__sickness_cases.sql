with

source as (

    select * from {{ source('landing', 'sickness_cases') }}

),

renamed as (

    select
        ---------- ids
        cast(case_id as {{ dbt.type_string() }}) as case_id,
        cast(person_key as {{ dbt.type_string() }}) as person_key,

        ---------- codes
        lower(end_reason) as end_reason,

        ---------- dates
        cast(first_sick_day as date) as first_sick_day,
        cast(case_end_date as date) as case_end_date,

        ---------- delivery
        {{ delivery_columns() }}

    from source

)

select * from renamed
{{ qualify_newest_delivery(['case_id']) }}
