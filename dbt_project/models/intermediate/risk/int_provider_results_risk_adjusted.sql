{#-
    The seam for risk adjustment (metrics.md, "Risk adjustment" and "Funnel plot"). Until the
    statistics step (pipeline/stats/) replaces this model by a dbt Python model of the same name
    and columns, it is empty, and mart_provider_results carries its columns as NULL: an
    unadjusted comparison, never a silent number.

    Contract for the replacement: one row per as_of_month × provider_id × tender_area × measure
    (binary measures), computed from fct_referral_measures rows whose window_end_month lies in
    the rolling base of that as_of_month.
-#}
with

empty as (

    select
        cast(null as date) as as_of_month,
        cast(null as {{ dbt.type_string() }}) as provider_id,
        cast(null as {{ dbt.type_int() }}) as tender_area,
        cast(null as {{ dbt.type_string() }}) as measure,
        cast(null as {{ dbt.type_float() }}) as expected,
        cast(null as {{ dbt.type_float() }}) as o_e,
        cast(null as {{ dbt.type_float() }}) as o_e_low,
        cast(null as {{ dbt.type_float() }}) as o_e_high,
        cast(null as {{ dbt.type_float() }}) as risk_adjusted_rate,
        cast(null as {{ dbt.type_float() }}) as z_score,
        cast(null as {{ dbt.type_float() }}) as funnel_95_low,
        cast(null as {{ dbt.type_float() }}) as funnel_95_high,
        cast(null as {{ dbt.type_float() }}) as funnel_998_low,
        cast(null as {{ dbt.type_float() }}) as funnel_998_high,
        cast(null as {{ dbt.type_float() }}) as overdispersion_phi,
        cast(null as {{ dbt.type_boolean() }}) as overdispersion_corrected,
        cast(null as {{ dbt.type_float() }}) as auc,
        cast(null as {{ dbt.type_int() }}) as model_events,
        cast(null as {{ dbt.type_string() }}) as adjustment_status

)

select * from empty
where 1 = 0
