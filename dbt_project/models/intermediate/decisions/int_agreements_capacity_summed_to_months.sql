{#-
    Each provider's agreements in a tender area and as-of month (decisions.md, "Who gets a
    decision"): one row per provider × area × month with an agreement valid at least one day of
    the month (valid_from on or before the month's last day, valid_to empty or on or after its
    first day), its capacity_per_month summed over those agreements (NULL where none of them
    states a capacity), and whether the provider's last agreement in the area ends in the month
    (no agreement of it in the area is valid any day of the next month).
-#}
with

agreements as (

    select * from {{ ref('stg_landing__agreements') }}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

),

valid as (

    select
        months.as_of_month,
        agreements.provider_id,
        agreements.tender_area,
        agreements.capacity_per_month
    from months
    inner join agreements
        on agreements.valid_from <= {{ month_end('months.as_of_month') }}
        and (agreements.valid_to is null or agreements.valid_to >= months.as_of_month)

),

summed as (

    select
        as_of_month,
        provider_id,
        tender_area,
        cast(sum(capacity_per_month) as {{ type_double() }}) as capacity_per_month
    from valid
    group by as_of_month, provider_id, tender_area

),

valid_next_month as (

    select distinct
        summed.as_of_month,
        summed.provider_id,
        summed.tender_area
    from summed
    inner join agreements
        on agreements.provider_id = summed.provider_id
        and agreements.tender_area = summed.tender_area
        and agreements.valid_from <= {{ month_end_after('summed.as_of_month', 1) }}
        and (agreements.valid_to is null or agreements.valid_to >= {{ add_months('summed.as_of_month', 1) }})

),

final as (

    select
        summed.as_of_month,
        summed.provider_id,
        summed.tender_area,
        summed.capacity_per_month,
        valid_next_month.provider_id is null as agreement_ends_in_month
    from summed
    left join valid_next_month
        on summed.as_of_month = valid_next_month.as_of_month
        and summed.provider_id = valid_next_month.provider_id
        and summed.tender_area = valid_next_month.tender_area

)

select * from final
