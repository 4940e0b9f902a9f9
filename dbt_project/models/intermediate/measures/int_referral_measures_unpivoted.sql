{#-
    The base of every provider measure, one row per referral and measure where the referral is
    in the measure's base at as_of (mature, in the population; closed for has_result and
    cost_per_result), with the case-mix covariates on the same row. The window-end month says
    from which as-of month on the row counts: by event-date discipline a value that matured by
    month m is the same at m as at as_of, so one table serves every as-of month of the mart.
    It is also the input of the risk model (one logistic fit per tender area, binary measure
    and as-of month over the rows whose window_end_month lies in that month's base). The public
    fct_referral_measures is this model as it stands.
-#}
{%- set keys = ['person_key', 'provider_id', 'tender_area', 'offer_code'] -%}
{%- set case_mix = [
    'age_at_start', 'sex', 'benefit_at_start', 'benefit_weeks_52', 'paid_hours_baseline',
    'prior_referrals', 'purpose', 'start_quarter', 'cohort_month', 'as_of',
] -%}
{#- Each measure's rows carry the referral's keys and case mix from the same scan of outcomes:
    joining them back on referral_id cost a hash join of 10^7 rows nationally. -#}
with

outcomes as (

    select * from {{ ref('int_referrals_outcomes_combined') }}

),

unpivoted as (

    {%- for measure in provider_measures() %}
    select
        referral_id,
        '{{ measure.name }}' as measure,
        {{ measure.window_end }} as window_end_date,
        {% if measure.kind == 'continuous' -%}
        cast(null as {{ dbt.type_int() }}) as success,
        {%- else -%}
        case when {{ measure.success }} then 1 else 0 end as success,
        {%- endif %}
        cast({{ measure.value }} as {{ type_double() }}) as value,
        {{ (keys + case_mix) | join(', ') }}
    from outcomes
    where {{ measure.in_base }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

final as (

    select
        ---------- keys
        referral_id,
        measure,
        {{ keys | join(', ') }},

        ---------- the outcome
        window_end_date,
        {{ month_start('window_end_date') }} as window_end_month,
        success,
        value,

        ---------- case mix
        {{ case_mix | join(', ') }}

    from unpivoted

)

select * from final
