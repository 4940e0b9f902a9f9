{#-
    The public base of every provider measure: int_referral_measures_unpivoted as it stands. The
    provider and risk models read the intermediate model, so that nothing upstream of a mart
    reads a mart.
-#}
with

measures as (

    select * from {{ ref_within_warehouse('int_referral_measures_unpivoted') }}

)

select * from measures
