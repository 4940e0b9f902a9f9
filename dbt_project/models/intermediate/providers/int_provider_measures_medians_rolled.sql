{#-
    Median of each continuous measure per provider, tender area and as-of month over the rolling
    base. A median cannot be rolled up from monthly pieces, so the referral rows of the
    continuous measures are joined to each as-of month whose base they fall in.
-#}

with

measures as (

    select * from {{ ref('int_referral_measures_unpivoted') }}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

),

continuous_values as (

    select
        provider_id,
        tender_area,
        measure,
        window_end_month,
        value
    from measures
    where measure in {{ quoted_list(measure_names('continuous')) }}

),

in_rolling_base as (

    select
        months.as_of_month,
        continuous_values.provider_id,
        continuous_values.tender_area,
        continuous_values.measure,
        continuous_values.value
    from continuous_values
    inner join months
        on {{ in_rolling_base('continuous_values.window_end_month', 'months.as_of_month') }}

),

final as (

    select
        as_of_month,
        provider_id,
        tender_area,
        measure,
        {{ median('value') }} as value_median
    from in_rolling_base
    group by as_of_month, provider_id, tender_area, measure

)

select * from final
