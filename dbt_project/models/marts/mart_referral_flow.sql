{#-
    Referral flow for the reports: one row per as-of month × provider × tender area, every
    month of the spine for every provider-area with a referral. Started and ended count the
    referrals whose start and end date fall in the month; ongoing those started by the month's
    last day and not ended by it; ended_base those that ended in the rolling base of the month
    (in_rolling_base, as mart_provider_results counts its bases).
-#}
with

outcomes as (

    select * from {{ ref('fct_referral_outcomes') }}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

),

provider_areas as (

    select distinct
        provider_id,
        tender_area
    from outcomes

),

events as (

    -- a referral is ongoing from its start month up to the month before its end month (in no
    -- month when it ends in or before the month it started)
    select
        provider_id,
        tender_area,
        {{ month_start('start_date') }} as event_month,
        1 as started,
        0 as ended,
        1 as ongoing_change
    from outcomes
    union all
    select
        provider_id,
        tender_area,
        {{ month_start('end_date') }} as event_month,
        0 as started,
        1 as ended,
        0 as ongoing_change
    from outcomes
    where end_date is not null
    union all
    select
        provider_id,
        tender_area,
        greatest({{ month_start('start_date') }}, {{ month_start('end_date') }}) as event_month,
        0 as started,
        0 as ended,
        -1 as ongoing_change
    from outcomes
    where end_date is not null

),

monthly as (

    select
        provider_id,
        tender_area,
        event_month,
        sum(started) as started,
        sum(ended) as ended,
        sum(ongoing_change) as ongoing_change
    from events
    group by provider_id, tender_area, event_month

),

ended_in_base as (

    select
        months.as_of_month,
        monthly.provider_id,
        monthly.tender_area,
        sum(monthly.ended) as ended_base
    from monthly
    inner join months
        on {{ in_rolling_base('monthly.event_month', 'months.as_of_month') }}
    group by months.as_of_month, monthly.provider_id, monthly.tender_area

),

final as (

    select
        months.as_of_month,
        provider_areas.provider_id,
        provider_areas.tender_area,
        cast(coalesce(monthly.started, 0) as {{ dbt.type_bigint() }}) as started,
        cast(coalesce(monthly.ended, 0) as {{ dbt.type_bigint() }}) as ended,
        cast(sum(coalesce(monthly.ongoing_change, 0)) over (
            partition by provider_areas.provider_id, provider_areas.tender_area
            order by months.as_of_month
            rows between unbounded preceding and current row
        ) as {{ dbt.type_bigint() }}) as ongoing,
        cast(coalesce(ended_in_base.ended_base, 0) as {{ dbt.type_bigint() }}) as ended_base
    from provider_areas
    cross join months
    left join monthly
        on provider_areas.provider_id = monthly.provider_id
       and provider_areas.tender_area = monthly.tender_area
       and months.as_of_month = monthly.event_month
    left join ended_in_base
        on provider_areas.provider_id = ended_in_base.provider_id
       and provider_areas.tender_area = ended_in_base.tender_area
       and months.as_of_month = ended_in_base.as_of_month

)

select * from final
