{#-
    A fingerprint of each as-of month's risk base per tender area × binary measure: what an
    incremental build compares with the previous build's to find the months whose models it
    can keep (pipeline/stats/incremental.py). The rows of the base are hashed once per month
    their measure matured, and a month's fingerprint combines the matured months of its rolling
    base: an exclusive or of row hashes does not depend on the order rows are met in, and a
    row is in a base once (unique as_of_month × measure × referral_id), so no two cancel.
    Every column the model reads is hashed (macro risk_base_columns), so a correction dated in
    the past changes the fingerprint of the months whose base holds the corrected referral.
-#}

with

measures as (

    select * from {{ ref('int_referral_measures_unpivoted') }}

),

months as (

    select * from {{ ref('int_as_of_months_spined') }}

),

matured_months_hashed as (

    select
        window_end_month,
        tender_area,
        measure,
        count(*) as base_rows,
        bit_xor(hash({{ risk_base_columns() | join(', ') }})) as base_hash
    from measures
    where measure in {{ quoted_list(measure_names('binary')) }}
    group by window_end_month, tender_area, measure

),

final as (

    select
        months.as_of_month,
        matured_months_hashed.tender_area,
        matured_months_hashed.measure,
        cast(sum(matured_months_hashed.base_rows) as {{ dbt.type_bigint() }}) as base_rows,
        bit_xor(matured_months_hashed.base_hash) as base_hash
    from matured_months_hashed
    inner join months
        on {{ in_rolling_base('matured_months_hashed.window_end_month', 'months.as_of_month') }}
    group by months.as_of_month, matured_months_hashed.tender_area, matured_months_hashed.measure

)

select * from final
