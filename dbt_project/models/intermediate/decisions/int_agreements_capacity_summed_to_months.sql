{#-
    Each provider's capacity per month in a tender area and as-of month: capacity_per_month
    summed over its agreements valid in that month (valid_from on or before the month's last day,
    valid_to empty or on or after its first day); NULL where none of them states a capacity.
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

final as (

    select
        as_of_month,
        provider_id,
        tender_area,
        cast(sum(capacity_per_month) as {{ type_double() }}) as capacity_per_month
    from valid
    group by as_of_month, provider_id, tender_area

)

select * from final
