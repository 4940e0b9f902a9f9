{#-
    The lift cohorts of Model A (decisions.md, "Model A"), for every stop month a provider could
    be stopped in: per as-of month × provider × tender area × stop month (on or before the
    as-of month), the referrals ongoing at the stop (started on or before the stop month's last
    day and not ended by then) and, by the as-of month's evaluation date:
    - with_result: successes, counted as soon as registered (int_referrals_primary_dated);
    - closed: judged, i.e. successes plus failures; a failure is a referral whose window ended
      (for has_result: closed, is_closed) without a success;
    - finished: those whose window ended; when all of the cohort has, nothing more can be learned.
    Which stop month applies is the decision's own state, so the decision step picks the row of
    its stop month. Stop months without ongoing referrals have no row (an empty cohort).

    Each referral of a cohort is counted once, in the as-of month its success, its judgement and
    its end first become known, and the counts are summed up to each as-of month: judging every
    referral again in every later as-of month would be referrals × stop months × as-of months.
-#}
{#- Each count and the column of known_in that holds the month its referral is counted in. -#}
{%- set counted_in = {'closed': 'judged_month', 'with_result': 'success_month', 'finished': 'finished_month'} -%}
with

primary_outcome as (

    select * from {{ ref('int_referrals_primary_dated') }}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

),

stop_months as (

    select
        as_of_month as stop_month,
        {{ month_end('as_of_month') }} as stop_date
    from months

),

last_evaluation as (

    select
        max(as_of_date) as as_of_date,
        {{ month_end('max(as_of_month)') }} as last_stop_date
    from months

),

known_in as (

    {#- The as-of month a day is first on or before the evaluation date of: its own month, as
        every as-of month but the last is evaluated on its last day and the last one on as_of;
        no month for a day after as_of. A referral not ended is ongoing past every stop month
        (ongoing_until): with two bounds that are never NULL, the join below is a range join
        instead of a scan of every month after the start. #}
    select
        primary_outcome.*,
        coalesce(primary_outcome.end_date, {{ add_days('last_evaluation.last_stop_date', 1) }})
            as ongoing_until,
        case
            when primary_outcome.success_known_on <= last_evaluation.as_of_date
                then {{ month_start('primary_outcome.success_known_on') }}
        end as success_month,
        case
            when primary_outcome.judged_on <= last_evaluation.as_of_date
                then {{ month_start('primary_outcome.judged_on') }}
        end as judged_month,
        case
            when primary_outcome.success is not null
                and primary_outcome.window_end <= last_evaluation.as_of_date
                then {{ month_start('primary_outcome.window_end') }}
        end as finished_month
    from primary_outcome
    cross join last_evaluation

),

ongoing_at_stop as (

    {#- A referral known before its stop month counts from the stop month on. #}
    select
        stop_months.stop_month,
        known_in.provider_id,
        known_in.tender_area,
        {%- for month in counted_in.values() %}
        case
            when known_in.{{ month }} is not null
                then greatest(known_in.{{ month }}, stop_months.stop_month)
        end as {{ month }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from known_in
    inner join stop_months
        on known_in.start_date <= stop_months.stop_date
        and known_in.ongoing_until > stop_months.stop_date

),

cohorts as (

    select
        stop_month,
        provider_id,
        tender_area,
        count(*) as ongoing_at_stop
    from ongoing_at_stop
    group by stop_month, provider_id, tender_area

),

events as (

    {#- One row per referral and count it is counted in, dated by the month it counts from. #}
    {%- for count, month in counted_in.items() %}
    select
        stop_month,
        provider_id,
        tender_area,
        {{ month }} as event_month,
        {%- for other in counted_in %}
        {{ 1 if other == count else 0 }} as {{ other }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from ongoing_at_stop
    where {{ month }} is not null
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

events_per_month as (

    select
        stop_month,
        provider_id,
        tender_area,
        event_month,
        {%- for count in counted_in %}
        sum({{ count }}) as {{ count }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from events
    group by stop_month, provider_id, tender_area, event_month

),

cohorts_per_month as (

    select
        months.as_of_month,
        cohorts.provider_id,
        cohorts.tender_area,
        cohorts.stop_month,
        cohorts.ongoing_at_stop,
        {%- for count in counted_in %}
        coalesce(events_per_month.{{ count }}, 0) as {{ count }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from cohorts
    inner join months
        on cohorts.stop_month <= months.as_of_month
    left join events_per_month
        on cohorts.stop_month = events_per_month.stop_month
        and cohorts.provider_id = events_per_month.provider_id
        and cohorts.tender_area = events_per_month.tender_area
        and months.as_of_month = events_per_month.event_month

),

final as (

    select
        as_of_month,
        provider_id,
        tender_area,
        stop_month,
        ongoing_at_stop,
        {%- for count in counted_in %}
        cast(
            sum({{ count }}) over (
                partition by provider_id, tender_area, stop_month
                order by as_of_month
                rows between unbounded preceding and current row
            ) as {{ dbt.type_bigint() }}
        ) as {{ count }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from cohorts_per_month

)

select * from final
