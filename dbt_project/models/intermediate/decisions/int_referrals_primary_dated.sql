{#-
    Every referral with its tender area's primary measure (var primary_measures), dated for the
    booking decisions' cohorts (decisions.md, model A's stop cohort and model B's state cohort):
    success (the measure; NULL outside its population), window_end (the day the measure
    matures; for has_result the day the referral is closed, is_closed) and success_known_on, the
    day a success became known. A success counts as soon as it is registered, even while the
    referral is ongoing: for has_result the date of its first counted result (on any link of
    its course); for a measure without a registration date, the day its window ends. A failure
    is known only once the window ended without a success. judged_on is the day the referral is
    judged, success or failure, the one definition both cohorts count by.
-#}
{%- set primary = var('primary_measures') -%}
{%- set catalogue = {} -%}
{%- for measure in provider_measures() -%}
    {%- do catalogue.update({measure.name: measure}) -%}
{%- endfor -%}
with

outcomes as (

    select * from {{ ref('int_referrals_outcomes_combined') }}

),

results as (

    select * from {{ ref('int_referral_results_filtered_to_as_of') }}

),

chained as (

    select * from {{ ref('int_referrals_chained') }}

),

first_results as (

    {#- The first result registered on any link of a course, within the course's result window
        (the same results has_result counts, int_referrals_results_measured). #}
    select
        chained.last_referral_id as referral_id,
        min(results.result_date) as first_result_date
    from results
    inner join chained
        on results.referral_id = chained.referral_id
    inner join outcomes
        on outcomes.referral_id = chained.last_referral_id
    where
        results.result_date >= outcomes.start_date
        and (outcomes.result_window_end is null or results.result_date <= outcomes.result_window_end)
    group by chained.last_referral_id

),

dated as (

    {#- The primary measure of the referral's tender area: its flag and its window end. #}
    select
        outcomes.referral_id,
        provider_id,
        tender_area,
        start_date,
        end_date,
        case tender_area
            {%- for area, name in primary.items() %}
            when {{ area }} then {{ catalogue[name].success }}
            {%- endfor %}
        end as success,
        case tender_area
            {%- for area, name in primary.items() %}
            when {{ area }} then {{ catalogue[name].window_end }}
            {%- endfor %}
        end as window_end,
        {#- The day a success became known: for has_result its first result, else the window end. #}
        case tender_area
            {%- for area, name in primary.items() %}
            when {{ area }} then
                {%- if name == 'has_result' %} case when has_result is not null then first_results.first_result_date end
                {%- else %} case when {{ catalogue[name].success }} then {{ catalogue[name].window_end }} end
                {%- endif %}
            {%- endfor %}
        end as success_known_on
    from outcomes
    left join first_results
        on outcomes.referral_id = first_results.referral_id

),

final as (

    {#- Judged on the earlier of the day a success is registered and the day the window ends
        (a failure is known only then), never before the referral started; NULL while neither
        is known (greatest and least skip NULLs, hence the case). #}
    select
        *,
        case
            when success_known_on is not null or (success is not null and window_end is not null)
                then greatest(
                    start_date,
                    least(success_known_on, case when success is not null then window_end end)
                )
        end as judged_on
    from dated

)

select * from final
