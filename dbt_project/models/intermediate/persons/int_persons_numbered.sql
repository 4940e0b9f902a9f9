{#-
    The referred persons with a compact whole-number id beside their 64-character person_key.
    The person-week extract is the largest by far (10^8 rows nationally); ranking and joining it
    by a number instead of a long text key halves the build, and it keeps only the weeks of
    persons who were ever referred, which are the only ones a measure reads.
-#}
with

referrals as (

    select * from {{ ref('stg_landing__referrals') }}

),

persons as (

    select distinct person_key
    from referrals

),

final as (

    select
        person_key,
        row_number() over (order by person_key) as person_id
    from persons

)

select * from final
