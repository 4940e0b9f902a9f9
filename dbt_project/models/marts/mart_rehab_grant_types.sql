{#-
    Rehabilitation-team grants by type for the reports: one row per as-of month × provider ×
    tender area × grant type with the referrals of the rolling base of rehab_grant_within_12m
    (fct_referral_measures, in_rolling_base) that had a grant of that type. The grants add up
    to the measure's successes in mart_provider_results. Types without grants have no row.
-#}
with

measures as (

    select * from {{ ref('fct_referral_measures') }}

),

outcomes as (

    select * from {{ ref('fct_referral_outcomes') }}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

),

monthly as (

    select
        measures.provider_id,
        measures.tender_area,
        outcomes.rehab_grant_type,
        measures.window_end_month,
        count(*) as referrals
    from measures
    inner join outcomes
        on measures.referral_id = outcomes.referral_id
    where measures.measure = 'rehab_grant_within_12m'
      and measures.success = 1
    group by measures.provider_id, measures.tender_area, outcomes.rehab_grant_type, measures.window_end_month

),

final as (

    select
        months.as_of_month,
        monthly.provider_id,
        monthly.tender_area,
        monthly.rehab_grant_type,
        cast(sum(monthly.referrals) as {{ dbt.type_bigint() }}) as referrals
    from monthly
    inner join months
        on {{ in_rolling_base('monthly.window_end_month', 'months.as_of_month') }}
    group by months.as_of_month, monthly.provider_id, monthly.tender_area, monthly.rehab_grant_type

)

select * from final
