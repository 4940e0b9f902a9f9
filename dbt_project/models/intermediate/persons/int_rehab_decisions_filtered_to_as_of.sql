{#- Rehabilitation-team decisions known at as_of: a decision dated after as_of does not exist yet. -#}
with

decisions as (

    select * from {{ ref('stg_landing__rehab_decisions') }}

),

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

final as (

    select
        decisions.decision_id,
        decisions.person_key,
        decisions.decision_date,
        decisions.outcome
    from decisions
    cross join as_of
    where decisions.decision_date <= as_of.as_of

)

select * from final
