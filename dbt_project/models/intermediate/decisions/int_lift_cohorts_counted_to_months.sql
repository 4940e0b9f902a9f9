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
-#}
with

primary_outcome as (

    select * from {{ ref('int_referrals_primary_dated') }}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

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
