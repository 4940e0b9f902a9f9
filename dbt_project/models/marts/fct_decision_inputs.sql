{#-
    Everything the booking decisions of a month read, one row per as-of month × provider ×
    tender area that has a primary-measure row or an agreement valid in the month (has_agreement;
    decisions.md, "Who gets a decision"): the mart_provider_results row of the area's primary measure (var
    primary_measures) with its evidence class and z-score as the statistics step classified
    them, the area's rates, the area's expected booking volume, the provider's capacity, and the
    lift cohorts of every stop month the provider could be stopped in (a list, one entry per
    stop month with ongoing referrals), and model B's state cohorts (state_cohorts, one entry per
    month the provider could have entered its state in: the referrals ongoing at that month's end
    plus those started since, counted as the stop cohort is, with their expected successes from
    fct_referral_expected; a referral whose expected probability is not known by the as-of month
    counts with the area's rate). The decision engine (pipeline/decisions) reads this
    relation only, so every fact it judges on is defined once, here or upstream.
-#}
{%- set primary = var('primary_measures') -%}
with

results as (

    select * from {{ ref('mart_provider_results') }}

),

volumes as (

    select * from {{ ref('int_area_bookings_averaged_to_months') }}

),

capacity as (

    select * from {{ ref('int_agreements_capacity_summed_to_months') }}

),

cohorts as (

    select * from {{ ref('int_lift_cohorts_counted_to_months') }}

),

dated as (

    select * from {{ ref('int_referrals_primary_dated') }}

),

expected as (

    select * from {{ ref('fct_referral_expected') }}

),

cusum as (

    select * from {{ ref('fct_provider_cusum') }}

),

primary_results as (

    select *
    from results
    where
        {%- for area, name in primary.items() %}
        (tender_area = {{ area }} and measure = '{{ name }}'){% if not loop.last %} or{% endif %}
        {%- endfor %}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

),

keys as (

    {#- A provider with a row but no agreement (its base still holds referrals after its
        agreement ended) is kept, flagged, so the engine can end its state; a provider with an
        agreement but no row yet (new in the area) gets a row with n = 0. #}
    select as_of_month, provider_id, tender_area from primary_results
    union
    select as_of_month, provider_id, tender_area from capacity

),

area_rates as (

    select
        as_of_month,
        tender_area,
        max(area_rate) as area_rate
    from primary_results
    group by as_of_month, tender_area

),

judged_referrals as (

    {#- Each referral that is ever judged, with the day it is (judged_on, as model A's lift
        cohorts count it) and the expected probability of its area's primary measure. Joined
        here, once per referral: joined after the referrals are repeated for every as-of month
        they are judged in, the lookup ran 10^7 times nationally. #}
    select
        dated.provider_id,
        dated.tender_area,
        dated.end_date,
        dated.success_known_on,
        dated.judged_on,
        expected.as_of_month as expected_known_month,
        expected.expected_p
    from dated
    left join expected
        on dated.referral_id = expected.referral_id
        and expected.measure = case dated.tender_area
            {%- for area, name in primary.items() %}
            when {{ area }} then '{{ name }}'
            {%- endfor %}
        end
    where
        dated.start_date is not null
        and dated.judged_on is not null

),

state_cohort_judged as (

    {#- Per as-of month: the referrals judged by then, each with its expected probability as
        known in the as-of month and the first month it is no longer ongoing at the end of
        (end_month: an entry month before it holds the referral, ongoing at that month's end or
        started since). #}
    select
        months.as_of_month,
        judged.provider_id,
        judged.tender_area,
        {{ month_start('judged.end_date') }} as end_month,
        coalesce(judged.success_known_on <= months.as_of_date, false) as is_success,
        coalesce(
            case when judged.expected_known_month <= months.as_of_month then judged.expected_p end,
            area_rates.area_rate
        ) as expected_p
    from judged_referrals as judged
    inner join months
        on judged.judged_on <= months.as_of_date
    left join area_rates
        on months.as_of_month = area_rates.as_of_month
        and judged.tender_area = area_rates.tender_area

),

state_cohort_parts as (

    {#- The judged referrals counted per end month first: a state cohort (entry month E) is
        the sum of the parts whose end month lies after E, so each referral is counted once
        per as-of month, not once per entry month too. Exact sums (macro exact_sum): the same
        in every build whatever order the rows of fct_referral_expected come in, which an
        incremental build changes, and a sum of parts equal to the sum of their rows. #}
    select
        as_of_month,
        provider_id,
        tender_area,
        end_month,
        count(*) as judged,
        count(*) filter (where is_success) as successes,
        {{ exact_sum('expected_p') }} as expected,
        {{ exact_sum('expected_p * (1 - expected_p)') }} as variance
    from state_cohort_judged
    group by as_of_month, provider_id, tender_area, end_month

),

state_cohorts_counted as (

    select
        parts.as_of_month,
        parts.provider_id,
        parts.tender_area,
        entry.as_of_month as entry_month,
        cast(sum(parts.judged) as {{ dbt.type_bigint() }}) as judged,
        cast(sum(parts.successes) as {{ dbt.type_bigint() }}) as successes,
        cast(sum(parts.expected) as {{ type_double() }}) as expected,
        cast(sum(parts.variance) as {{ type_double() }}) as variance
    from state_cohort_parts as parts
    inner join months as entry
        on entry.as_of_month <= parts.as_of_month
        and (parts.end_month is null or entry.as_of_month < parts.end_month)
    group by parts.as_of_month, parts.provider_id, parts.tender_area, entry.as_of_month

),

state_cohort_lists as (

    select
        as_of_month,
        provider_id,
        tender_area,
        list(
            {'entry_month': entry_month, 'judged': judged, 'successes': successes,
             'expected': expected, 'variance': variance}
            order by entry_month
        ) as state_cohorts
    from state_cohorts_counted
    group by as_of_month, provider_id, tender_area

),

cohort_lists as (

    select
        as_of_month,
        provider_id,
        tender_area,
        list(
            {'stop_month': stop_month, 'ongoing_at_stop': ongoing_at_stop,
             'closed': closed, 'with_result': with_result, 'finished': finished}
            order by stop_month
        ) as lift_cohorts
    from cohorts
    group by as_of_month, provider_id, tender_area

),

final as (

    select
        ---------- keys
        keys.as_of_month,
        months.as_of_date,
        keys.provider_id,
        keys.tender_area,
        coalesce(
            primary_results.measure,
            case keys.tender_area
                {%- for area, name in primary.items() %}
                when {{ area }} then '{{ name }}'
                {%- endfor %}
            end
        ) as measure,

        ---------- agreement periods
        capacity.provider_id is not null as has_agreement,
        coalesce(capacity.agreement_ends_in_month, false) as agreement_ends_in_month,

        ---------- the primary measure
        coalesce(primary_results.n, 0) as n,
        coalesce(primary_results.successes, 0) as successes,
        primary_results.rate,
        primary_results.rate_low,
        primary_results.rate_high,
        coalesce(primary_results.below_min_n, true) as below_min_n,
        primary_results.area_rate,
        primary_results.area_rate_excl_provider,

        ---------- risk adjustment and evidence (the statistics step's)
        primary_results.expected,
        primary_results.risk_adjusted_rate,
        primary_results.risk_adjusted_rate_low,
        primary_results.risk_adjusted_rate_high,
        primary_results.z_score,
        primary_results.adjustment_status,
        primary_results.evidence,

        ---------- allocation
        coalesce(volumes.area_booking_volume, 0) as area_booking_volume,
        capacity.capacity_per_month,

        ---------- Model A's lift cohorts
        coalesce(cohort_lists.lift_cohorts, []) as lift_cohorts,

        ---------- the early-warning chart
        cusum.s as cusum_s,
        cusum.h as cusum_h,
        coalesce(cusum.signal, false) as cusum_signal,

        ---------- Model B's state cohorts
        coalesce(state_cohort_lists.state_cohorts, []) as state_cohorts
    from keys
    inner join months
        on keys.as_of_month = months.as_of_month
    left join primary_results
        on keys.as_of_month = primary_results.as_of_month
        and keys.provider_id = primary_results.provider_id
        and keys.tender_area = primary_results.tender_area
    left join volumes
        on keys.as_of_month = volumes.as_of_month
        and keys.tender_area = volumes.tender_area
    left join capacity
        on keys.as_of_month = capacity.as_of_month
        and keys.provider_id = capacity.provider_id
        and keys.tender_area = capacity.tender_area
    left join cohort_lists
        on keys.as_of_month = cohort_lists.as_of_month
        and keys.provider_id = cohort_lists.provider_id
        and keys.tender_area = cohort_lists.tender_area
    left join cusum
        on keys.as_of_month = cusum.as_of_month
        and keys.provider_id = cusum.provider_id
        and keys.tender_area = cusum.tender_area
    left join state_cohort_lists
        on keys.as_of_month = state_cohort_lists.as_of_month
        and keys.provider_id = state_cohort_lists.provider_id
        and keys.tender_area = state_cohort_lists.tender_area

)

select * from final
