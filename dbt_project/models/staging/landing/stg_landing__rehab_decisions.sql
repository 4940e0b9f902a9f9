with

source as (

    select * from {{ source('landing', 'rehab_decisions') }}

),

renamed as (

    select
        ---------- ids
        cast(decision_id as {{ dbt.type_string() }}) as decision_id,
        cast(person_key as {{ dbt.type_string() }}) as person_key,

        ---------- codes
        lower(outcome) as outcome,

        ---------- dates
        cast(meeting_date as date) as meeting_date,
        cast(decision_date as date) as decision_date,

        ---------- delivery
        {{ delivery_columns() }}

    from source

)

select * from renamed
{{ qualify_newest_delivery(['decision_id']) }}
