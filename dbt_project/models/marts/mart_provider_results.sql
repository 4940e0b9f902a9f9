{#-
    Provider results (metrics.md, "Provider measures"): one row per as-of month × provider ×
    tender area × measure, from the provider-area's first referral month to as_of. A month's
    base is the referrals whose measure window ended in the rolling_months months up to and
    including the month (for has_result and cost per result: closed referrals whose e + grace
    falls there). Counts are stored beside the rates so that any grouping re-aggregates.
-#}
{%- set rolling_months = var('rolling_months') | int -%}
{%- set z = var('wilson_z') -%}

with

monthly as (

    select * from {{ ref('int_provider_measures_aggregated_to_months') }}

),

medians as (

    select * from {{ ref('int_provider_measures_medians_rolled') }}

),

risk as (

    select * from {{ ref('int_provider_results_risk_adjusted') }}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

),

referrals as (

    select * from {{ ref('int_referrals_joined_to_agreements') }}

),

measures as (

    select * from {{ ref('dim_measures') }}

),

provider_areas as (

    select
        provider_id,
        tender_area,
        max(provider_name) as provider_name,
        min(cohort_month) as first_month
    from referrals
    group by provider_id, tender_area

),

grid as (

    -- dense: every month from the provider-area's first referral month, so that a frame of
    -- rolling_months rows is exactly rolling_months calendar months
    select
        months.as_of_month,
        months.as_of_date,
        provider_areas.provider_id,
        provider_areas.provider_name,
        provider_areas.tender_area,
        measures.measure,
        measures.measure_kind
    from provider_areas
    inner join months
        on months.as_of_month >= provider_areas.first_month
    cross join measures

),

rolled as (

    select
        grid.*,
        {%- for column in ['n', 'successes', 'value_sum'] %}
        cast(sum(coalesce(monthly.{{ column }}, 0)) over (
            partition by grid.provider_id, grid.tender_area, grid.measure
            order by grid.as_of_month
            rows between {{ rolling_months - 1 }} preceding and current row
        ) as {{ dbt.type_bigint() if column != 'value_sum' else exact_decimal() }}) as {{ column }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from grid
    left join monthly
        on grid.provider_id = monthly.provider_id
       and grid.tender_area = monthly.tender_area
       and grid.measure = monthly.measure
       and grid.as_of_month = monthly.window_end_month

),

with_area as (

    select
        rolled.*,
        {%- for column in ['n', 'successes', 'value_sum'] %}
        cast(sum({{ column }}) over (partition by as_of_month, tender_area, measure)
            as {{ dbt.type_bigint() if column != 'value_sum' else exact_decimal() }}) as area_{{ column }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from rolled

),

rates as (

    select
        with_area.*,
        case when measure_kind = 'binary' then {{ safe_divide('successes', 'n') }} end as rate,
        case when measure_kind = 'binary' then {{ safe_divide('area_successes', 'area_n') }} end as area_rate,
        case
            when measure_kind = 'binary'
                then {{ safe_divide('area_successes - successes', 'area_n - n') }}
        end as area_rate_excl_provider,
        case measure_kind
            when 'continuous' then {{ safe_divide('value_sum', 'n') }}
            when 'ratio' then {{ safe_divide('value_sum', 'successes') }}
        end as value_mean,
        case measure_kind
            when 'continuous' then {{ safe_divide('area_value_sum', 'area_n') }}
            when 'ratio' then {{ safe_divide('area_value_sum', 'area_successes') }}
        end as area_value_mean,
        case measure_kind
            when 'continuous' then {{ safe_divide('area_value_sum - value_sum', 'area_n - n') }}
            when 'ratio' then {{ safe_divide('area_value_sum - value_sum', 'area_successes - successes') }}
        end as area_value_mean_excl_provider
    from with_area

),

final as (

    select
        ---------- keys
        rates.as_of_month,
        rates.as_of_date,
        rates.provider_id,
        rates.provider_name,
        rates.tender_area,
        rates.measure,
        rates.measure_kind,

        ---------- the provider's base
        rates.n,
        case when rates.measure_kind <> 'continuous' then rates.successes end as successes,
        rates.rate,
        case
            when rates.measure_kind = 'binary' then {{ wilson_bound('rates.successes', 'rates.n', z, -1) }}
        end as rate_low,
        case
            when rates.measure_kind = 'binary' then {{ wilson_bound('rates.successes', 'rates.n', z, 1) }}
        end as rate_high,
        rates.n < {{ var('min_n') }} as below_min_n,

        ---------- continuous measures
        case when rates.measure_kind <> 'binary' then cast(rates.value_sum as {{ type_double() }}) end as value_sum,
        rates.value_mean,
        medians.value_median,

        ---------- the tender area over the same base
        rates.area_n,
        case when rates.measure_kind <> 'continuous' then rates.area_successes end as area_successes,
        rates.area_rate,
        rates.area_n - rates.n as area_n_excl_provider,
        case
            when rates.measure_kind <> 'continuous' then rates.area_successes - rates.successes
        end as area_successes_excl_provider,
        rates.area_rate_excl_provider,
        case
            when rates.measure_kind <> 'binary' then cast(rates.area_value_sum as {{ type_double() }})
        end as area_value_sum,
        rates.area_value_mean,
        rates.area_value_mean_excl_provider,

        ---------- risk adjustment and funnel plot (int_provider_results_risk_adjusted)
        risk.expected,
        risk.o_e,
        risk.o_e_low,
        risk.o_e_high,
        risk.risk_adjusted_rate,
        risk.risk_adjusted_rate_low,
        risk.risk_adjusted_rate_high,
        risk.z_score,
        risk.z_score_raw,
        risk.evidence,
        risk.funnel_method,
        risk.funnel_95_low,
        risk.funnel_95_high,
        risk.funnel_998_low,
        risk.funnel_998_high,
        risk.overdispersion_phi,
        risk.overdispersion,
        risk.overdispersion_corrected,
        risk.auc,
        risk.model_n,
        risk.model_events,
        risk.adjustment,
        risk.adjustment_status,
        risk.adjustment_message

    from rates
    left join medians
        on rates.as_of_month = medians.as_of_month
       and rates.provider_id = medians.provider_id
       and rates.tender_area = medians.tender_area
       and rates.measure = medians.measure
    left join risk
        on rates.as_of_month = risk.as_of_month
       and rates.provider_id = risk.provider_id
       and rates.tender_area = risk.tender_area
       and rates.measure = risk.measure

)

select * from final
