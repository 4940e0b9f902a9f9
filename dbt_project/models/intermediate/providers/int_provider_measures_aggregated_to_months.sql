{#-
    The measure bases counted per provider, tender area, measure and window-end month: the
    building block of the rolling 12-month bases, small enough to roll up for every as-of
    month even at national scale.
-#}
with

measures as (

    select * from {{ ref('int_referral_measures_unpivoted') }}

),

final as (

    select
        provider_id,
        tender_area,
        measure,
        window_end_month,
        count(*) as n,
        cast(sum(success) as {{ dbt.type_bigint() }}) as successes,
        {{ exact_sum('value') }} as value_sum
    from measures
    group by provider_id, tender_area, measure, window_end_month

)

select * from final
