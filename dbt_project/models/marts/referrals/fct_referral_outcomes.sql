{#-
    The public per-referral mart (outputs.md): int_referrals_outcomes_combined as it stands. The
    measures are computed in intermediate, so that nothing upstream of a mart reads a mart.
-#}
with

outcomes as (

    select * from {{ ref_within_warehouse('int_referrals_outcomes_combined') }}

)

select * from outcomes
