{#-
    previous_referral_id is an optional column of the contract (raw-extracts.md): a delivery
    without it loads, and the landing table may not have it; then it is NULL here.
-#}
{%- set landing_columns = [] -%}
{%- if execute -%}
    {%- set landing_columns = adapter.get_columns_in_relation(source('landing', 'referrals'))
        | map(attribute='name') | map('lower') | list -%}
{%- endif %}

with

source as (

    select * from {{ source('landing', 'referrals') }}

),

renamed as (

    select
        ---------- ids
        cast(referral_id as {{ dbt.type_string() }}) as referral_id,
        cast(person_key as {{ dbt.type_string() }}) as person_key,
        cast(agreement_id as {{ dbt.type_string() }}) as agreement_id,
        cast(jobcenter_unit as {{ dbt.type_string() }}) as jobcenter_unit,
        {% if 'previous_referral_id' in landing_columns -%}
        cast(previous_referral_id as {{ dbt.type_string() }})
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as previous_referral_id,

        ---------- person (derived from the CPR number at ingestion)
        cast(birth_date as date) as birth_date,
        upper(sex) as sex,

        ---------- codes
        lower(end_reason) as end_reason,
        lower(purpose) as purpose,
        lower(benefit_at_start) as benefit_at_start,

        ---------- numerics
        cast(hours_min as {{ type_double() }}) as hours_min,
        cast(hours_max as {{ type_double() }}) as hours_max,

        ---------- dates
        cast(booked_on as date) as booked_on,
        cast(start_date as date) as start_date,
        cast(planned_end_date as date) as planned_end_date,
        cast(end_date as date) as end_date,

        ---------- delivery
        {{ delivery_columns() }}

    from source

)

select * from renamed
{{ qualify_newest_delivery(['referral_id']) }}
