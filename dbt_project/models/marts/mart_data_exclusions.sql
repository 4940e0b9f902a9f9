{#-
    Rows the marts leave out because their parent is missing (raw-extracts.md, "Referential
    problems"), counted per extract and reason at as_of. Only rows that would otherwise count
    at as_of are counted (a result dated after as_of is not yet a problem). Every reason has a
    row, 0 included, so a report can say "no rows were left out". A parent that arrives in a
    later delivery makes its children count from the next build on.
-#}
with

referrals as (

    select * from {{ ref('stg_landing__referrals') }}

),

agreements as (

    select * from {{ ref('stg_landing__agreements') }}

),

providers as (

    select * from {{ ref('stg_landing__providers') }}

),

results as (

    select * from {{ ref('int_referral_results_filtered_to_as_of') }}

),

attendance as (

    select * from {{ ref('int_attendance_filtered_to_as_of') }}

),

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

referrals_checked as (

    select
        agreements.agreement_id is not null as parent_found,
        providers.provider_id is not null as grandparent_found
    from referrals
    cross join as_of
    left join agreements on referrals.agreement_id = agreements.agreement_id
    left join providers on agreements.provider_id = providers.provider_id
    where referrals.start_date <= as_of.as_of

),

agreements_checked as (

    select
        providers.provider_id is not null as parent_found
    from agreements
    left join providers on agreements.provider_id = providers.provider_id

),

referral_children_checked as (

    select
        children.extract,
        referrals.referral_id is not null as parent_found
    from (
        select 'referral_results' as extract, referral_id from results
        union all
        select 'attendance' as extract, referral_id from attendance
    ) children
    left join referrals on children.referral_id = referrals.referral_id

),

{#- extract, reason, Danish reason, checked rows, condition for "left out" -#}
{%- set checks = [
    ('referrals', 'agreement_unknown', 'Henvisningens rammeaftale (agreement_id) findes ikke i rammeaftalerne',
     'referrals_checked', 'not parent_found'),
    ('referrals', 'provider_unknown', 'Rammeaftalens leverandør (provider_id) findes ikke i leverandørerne',
     'referrals_checked', 'parent_found and not grandparent_found'),
    ('agreements', 'provider_unknown', 'Rammeaftalens leverandør (provider_id) findes ikke i leverandørerne',
     'agreements_checked', 'not parent_found'),
    ('referral_results', 'referral_unknown', 'Resultatets henvisning (referral_id) findes ikke i henvisningerne',
     'referral_children_checked', "extract = 'referral_results' and not parent_found"),
    ('attendance', 'referral_unknown', 'Fremmødets henvisning (referral_id) findes ikke i henvisningerne',
     'referral_children_checked', "extract = 'attendance' and not parent_found"),
] %}

counted as (

    {%- for extract, reason, reason_da, checked, left_out in checks %}
    select
        '{{ extract }}' as extract,
        '{{ reason }}' as reason,
        '{{ reason_da }}' as reason_da,
        sum(case when {{ left_out }} then 1 else 0 end) as excluded_rows
    from {{ checked }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

final as (

    select
        as_of.as_of,
        counted.extract,
        counted.reason,
        counted.reason_da,
        cast(coalesce(counted.excluded_rows, 0) as {{ dbt.type_bigint() }}) as excluded_rows
    from counted
    cross join as_of

)

select * from final
