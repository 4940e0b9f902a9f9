{#- Registered results known at as_of: a result dated after as_of does not exist yet. -#}
with

results as (

    select * from {{ ref('stg_landing__referral_results') }}

),

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

final as (

    select
        results.referral_id,
        results.result_date,
        results.result_type
    from results
    cross join as_of
    where results.result_date <= as_of.as_of

)

select * from final
