{#- Providers (leverandører) as last delivered, for names and CVR in reports. -#}
with

providers as (

    select * from {{ ref('stg_landing__providers') }}

),

final as (

    select
        provider_id,
        provider_name,
        cvr
    from providers

)

select * from final
