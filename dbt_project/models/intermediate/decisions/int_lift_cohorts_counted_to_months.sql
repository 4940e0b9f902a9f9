{#-
    The lift cohorts of Model A (decisions.md, "Lifting a stop"), for every stop month a
    provider could be stopped in: per as-of month × provider × tender area × stop month (on or
    before the as-of month), the referrals ongoing at the stop (started on or before the stop
    month's last day and not ended by then), how many of them are judged by the as-of month's
    evaluation date (the area's primary measure is known and its window ended), and how many of
    those have a success. Which stop month applies is the decision's own state, so the decision
    step picks the row of its stop month. Stop months without ongoing referrals have no row
    (an empty cohort).
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
        end as window_end
    from outcomes

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
        ongoing_at_stop.success is not null
            and ongoing_at_stop.window_end <= months.as_of_date as is_judged,
        coalesce(ongoing_at_stop.success, false) as success
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
        count(*) filter (where is_judged) as closed,
        count(*) filter (where is_judged and success) as with_result
    from judged
    group by as_of_month, provider_id, tender_area, stop_month

)

select * from final
