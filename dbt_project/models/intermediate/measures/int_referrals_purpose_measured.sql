{#-
    Purpose achieved (resultatmål opnået, metrics.md): a closed course that is not aftercare
    achieved its purpose when a counted result (as for has_result: on any link, dated from s to
    min(as_of, e + result_grace_days)) has a result type that var purpose_result_types accepts
    for the purpose; for a purpose in purposes_achieved_by_fit (return_to_work) a sickness case
    of the person ending fit or partially fit (fit_end_reasons) in that window counts too.
    Population and maturity as is_closed; NULL outside them.
-#}
{%- set purpose_types = var('purpose_result_types') -%}

with

referrals as (

    select * from {{ ref('int_referrals_collapsed_to_courses') }}

),

results as (

    select * from {{ ref('int_referral_results_filtered_to_as_of') }}

),

chained as (

    select * from {{ ref('int_referrals_chained') }}

),

cases as (

    select * from {{ ref('int_sickness_cases_censored_to_as_of') }}

),

accepted_types as (

    -- var purpose_result_types as rows: (purpose, result_type)
    {%- for purpose, result_types in purpose_types.items() %}
    {%- for result_type in result_types %}
    select '{{ purpose }}' as purpose, '{{ result_type }}' as result_type
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

windows as (

    select
        referral_id,
        person_key,
        purpose,
        start_date,
        {{ add_days('end_date', var('result_grace_days')) }} as result_window_end,
        coalesce({{ add_days('end_date', var('result_grace_days')) }} <= as_of, false) as is_closed
    from referrals
    where not is_aftercare

),

achieved_by_result as (

    select distinct
        windows.referral_id
    from windows
    inner join chained
        on chained.last_referral_id = windows.referral_id
    inner join results
        on results.referral_id = chained.referral_id
       and results.result_date >= windows.start_date
       and results.result_date <= windows.result_window_end
    inner join accepted_types
        on accepted_types.purpose = windows.purpose
       and accepted_types.result_type = results.result_type

),

achieved_by_fit as (

    -- cases are censored to as_of, and a closed course's window ends on or before as_of
    select distinct
        windows.referral_id
    from windows
    inner join cases
        on cases.person_key = windows.person_key
       and cases.case_end_date >= windows.start_date
       and cases.case_end_date <= windows.result_window_end
    where windows.purpose in {{ quoted_list(var('purposes_achieved_by_fit')) }}
      and cases.end_reason in {{ quoted_list(var('fit_end_reasons')) }}

),

final as (

    select
        referrals.referral_id,
        windows.result_window_end as purpose_window_end,
        case
            when windows.is_closed
                then achieved_by_result.referral_id is not null or achieved_by_fit.referral_id is not null
        end as purpose_achieved
    from referrals
    left join windows
        on referrals.referral_id = windows.referral_id
    left join achieved_by_result
        on referrals.referral_id = achieved_by_result.referral_id
    left join achieved_by_fit
        on referrals.referral_id = achieved_by_fit.referral_id

)

select * from final
