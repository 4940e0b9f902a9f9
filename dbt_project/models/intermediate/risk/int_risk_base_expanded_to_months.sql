{#-
    The risk base the statistics step reads (pipeline/stats, pattern_counts): one row per
    as-of month × binary measure × referral in that month's rolling base, with the outcome and
    the case-mix covariates. A view: at national scale it is about 10^8 rows, which the
    statistics step only ever aggregates to covariate patterns, so it is never stored.
-#}

with

measures as (

    select * from {{ ref('int_referral_measures_unpivoted') }}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

),

final as (

    select
        months.as_of_month,
        measures.tender_area,
        measures.measure,
        measures.provider_id,
        measures.referral_id,
        measures.window_end_month,
        measures.success = 1 as outcome,
        measures.age_at_start,
        measures.sex,
        measures.benefit_at_start,
        measures.benefit_weeks_52,
        measures.paid_hours_baseline,
        measures.prior_referrals,
        measures.offer_code,
        measures.purpose,
        measures.start_quarter
    from measures
    inner join months
        on {{ in_rolling_base('measures.window_end_month', 'months.as_of_month') }}
    where measures.measure in {{ quoted_list(measure_names('binary')) }}

)

select * from final
