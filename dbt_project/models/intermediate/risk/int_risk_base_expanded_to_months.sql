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
        {%- for column in risk_base_columns() %}
        {% if column == 'success' -%}
        measures.success = 1 as outcome
        {%- else -%}
        measures.{{ column }}
        {%- endif %}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from measures
    inner join months
        on {{ in_rolling_base('measures.window_end_month', 'months.as_of_month') }}
    where measures.measure in {{ quoted_list(measure_names('binary')) }}

)

select * from final
