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
        cast({{ measure.value }} as {{ type_double() }}) as value
    from outcomes
    where {{ measure.in_base }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

final as (

    select
        ---------- keys
        unpivoted.referral_id,
        unpivoted.measure,
        outcomes.person_key,
        outcomes.provider_id,
        outcomes.tender_area,
        outcomes.offer_code,

        ---------- the outcome
        unpivoted.window_end_date,
        {{ month_start('unpivoted.window_end_date') }} as window_end_month,
        unpivoted.success,
        unpivoted.value,

        ---------- case mix
        outcomes.age_at_start,
        outcomes.sex,
        outcomes.benefit_at_start,
        outcomes.benefit_weeks_52,
        outcomes.paid_hours_baseline,
        outcomes.prior_referrals,
        outcomes.purpose,
        outcomes.start_quarter,
        outcomes.cohort_month,
        outcomes.as_of

    from unpivoted
    inner join outcomes
        on unpivoted.referral_id = outcomes.referral_id

)

select * from final
