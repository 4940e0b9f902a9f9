{#-
    The distribution of paid-hours progression for the reports: one row per as-of month ×
    provider × tender area × band (var progression_bands) with the referrals of the measure's
    rolling base whose value falls in the band. The base is the one of paid_hours_progression
    in mart_provider_results (fct_referral_measures, in_rolling_base), so a provider's bands
    add up to its n there. Bands without referrals have no row.
-#}
{%- set bands = var('progression_bands') -%}

with

measures as (

    select * from {{ ref('fct_referral_measures') }}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

),

banded as (

    select
        provider_id,
        tender_area,
        measure,
        window_end_month,
        case
            {%- for band in bands[:-1] %}
            when value < {{ band.below }} then {{ loop.index0 }}
            {%- endfor %}
            else {{ bands | length - 1 }}
        end as band
    from measures
    where measure = 'paid_hours_progression'

),

monthly as (

    select
        provider_id,
        tender_area,
        measure,
        window_end_month,
        band,
        count(*) as referrals
    from banded
    group by provider_id, tender_area, measure, window_end_month, band

),

labels as (

    {%- for band in bands %}
    select
        {{ loop.index0 }} as band,
        '{{ band.label | replace("'", "''") }}' as band_label,
        cast({{ band.below if band.below is defined and not loop.last else 'null' }} as {{ type_double() }}) as band_below
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

final as (

    select
        months.as_of_month,
        monthly.provider_id,
        monthly.tender_area,
        monthly.measure,
        monthly.band,
        labels.band_label,
        labels.band_below,
        cast(sum(monthly.referrals) as {{ dbt.type_bigint() }}) as referrals
    from monthly
    inner join months
        on {{ in_rolling_base('monthly.window_end_month', 'months.as_of_month') }}
    inner join labels
        on monthly.band = labels.band
    group by all

)

select * from final
