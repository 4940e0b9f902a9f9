{#-
    The distribution of paid-hours progression for the reports: one row per as-of month ×
    provider × tender area × band (var progression_bands) with the referrals of the measure's
    rolling base whose value falls in the band. The base is the one of paid_hours_progression
    in mart_provider_results (fct_referral_measures, in_rolling_base), so a provider's bands
    add up to its n there. Every band has a row (0 included) wherever the provider has a base.
-#}
{%- set bands = var('progression_bands') -%}
{%- set bounds = [] -%}
{%- for band in bands[:-1] -%}
    {%- if band.below is not defined -%}
        {{ exceptions.raise_compiler_error("var progression_bands: every band but the last needs `below`") }}
    {%- endif -%}
    {%- do bounds.append(band.below | float) -%}
{%- endfor -%}
{%- if bands | length < 2 or bands[-1].below is defined or bounds != (bounds | sort | unique | list) -%}
    {{ exceptions.raise_compiler_error("var progression_bands: give at least two bands with increasing `below` bounds and none on the last, got " ~ bands) }}
{%- endif -%}

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

in_base as (

    select
        months.as_of_month,
        monthly.provider_id,
        monthly.tender_area,
        monthly.measure,
        monthly.band,
        sum(monthly.referrals) as referrals
    from monthly
    inner join months
        on {{ in_rolling_base('monthly.window_end_month', 'months.as_of_month') }}
    group by months.as_of_month, monthly.provider_id, monthly.tender_area, monthly.measure, monthly.band

),

bases as (

    select distinct
        as_of_month,
        provider_id,
        tender_area,
        measure
    from in_base

),

final as (

    select
        bases.as_of_month,
        bases.provider_id,
        bases.tender_area,
        bases.measure,
        labels.band,
        labels.band_label,
        labels.band_below,
        cast(coalesce(in_base.referrals, 0) as {{ dbt.type_bigint() }}) as referrals
    from bases
    cross join labels
    left join in_base
        on bases.as_of_month = in_base.as_of_month
       and bases.provider_id = in_base.provider_id
       and bases.tender_area = in_base.tender_area
       and bases.measure = in_base.measure
       and labels.band = in_base.band

)

select * from final
