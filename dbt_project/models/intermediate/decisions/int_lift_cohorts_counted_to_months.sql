{#-
    The lift cohorts of Model A (decisions.md, "Model A"), for every stop month a provider could
    be stopped in: per as-of month × provider × tender area × stop month (on or before the
    as-of month), the referrals ongoing at the stop (started on or before the stop month's last
    day and not ended by then) and, by the as-of month's evaluation date:
    - with_result: successes. A referral counts as a success as soon as its success is
      registered, even while it is still ongoing: for has_result the date of its first counted
      result (on any link of its course); for a measure without a registration date, the day
      its window ends.
    - closed: judged, i.e. successes plus failures; a failure is a referral whose window ended
      (for has_result: closed, is_closed) without a success.
    - finished: those whose window ended; when all of the cohort has, nothing more can be learned.
    Which stop month applies is the decision's own state, so the decision step picks the row of
    its stop month. Stop months without ongoing referrals have no row (an empty cohort).
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

months as (

    select * from {{ ref('int_as_of_months_spined') }}

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

primary_outcome as (

    {#- The primary measure of the referral's tender area: its flag and its window end. #}
    select
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

ongoing_at_stop as (

    select
        months.as_of_month as stop_month,
        primary_outcome.*
    from primary_outcome
    inner join months
        on primary_outcome.start_date <= {{ month_end('months.as_of_month') }}
        and (
            primary_outcome.end_date is null
            or primary_outcome.end_date > {{ month_end('months.as_of_month') }}
        )

),

judged as (

    select
        months.as_of_month,
        ongoing_at_stop.provider_id,
        ongoing_at_stop.tender_area,
        ongoing_at_stop.stop_month,
        coalesce(ongoing_at_stop.success_known_on <= months.as_of_date, false) as is_success,
        ongoing_at_stop.success is not null
            and ongoing_at_stop.window_end <= months.as_of_date as is_finished
    from ongoing_at_stop
    inner join months
        on ongoing_at_stop.stop_month <= months.as_of_month

),

final as (

    select
        as_of_month,
        provider_id,
        tender_area,
        stop_month,
        count(*) as ongoing_at_stop,
        count(*) filter (where is_success or is_finished) as closed,
        count(*) filter (where is_success) as with_result,
        count(*) filter (where is_finished) as finished
    from judged
    group by as_of_month, provider_id, tender_area, stop_month

)

select * from final
