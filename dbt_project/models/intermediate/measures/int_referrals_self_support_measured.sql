{#-
    Self-support X months after the first job month J (metrics.md): of the weeks whose Monday
    is one of the first self_supporting_weeks Mondays on or after the 1st of month J + X, at
    least self_supporting_min_weeks have no benefit row (student grant does not count as
    benefit). Mature on the Sunday of the last of those weeks; NULL before, and NULL for a
    referral without a job start month.
-#}
{%- set sustain_months = int_list_var('sustain_months') -%}
{%- set n_weeks = var('self_supporting_weeks') | int -%}
{%- set min_weeks = var('self_supporting_min_weeks') | int -%}

with

referrals as (

    select * from {{ ref('int_referrals_collapsed_to_courses') }}

),

paid_hours_measures as (

    select * from {{ ref('int_referrals_paid_hours_measured') }}

),

benefit_spells as (

    select * from {{ ref('int_benefit_weeks_grouped_to_spells') }}

),

job_starts as (

    select
        referrals.referral_id,
        referrals.person_id,
        referrals.as_of,
        paid_hours_measures.job_start_month
    from referrals
    inner join paid_hours_measures
        on referrals.referral_id = paid_hours_measures.referral_id
    where paid_hours_measures.job_start_month is not null

),

follow_up_windows as (

    {%- for x in sustain_months %}
    select
        referral_id,
        person_id,
        as_of,
        {{ x }} as months_after_job_start,
        {{ first_monday_on_or_after(add_months('job_start_month', x)) }} as first_monday
    from job_starts
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

windows as (

    select
        *,
        {{ add_days('first_monday', 7 * (n_weeks - 1)) }} as last_monday,
        {{ add_days('first_monday', 7 * n_weeks - 1) }} as window_end
    from follow_up_windows

),

benefit_weeks_counted as (

    {{ weeks_on_benefit_in_windows(
        'windows', 'benefit_spells', ['referral_id', 'months_after_job_start', 'as_of', 'window_end']
    ) }}

),

pivoted as (

    select
        referral_id
        {%- for x in sustain_months %},
        max(case when months_after_job_start = {{ x }} then window_end end)
            as self_supporting_{{ x }}m_window_end,
        max(case when months_after_job_start = {{ x }} and window_end <= as_of
            then {{ n_weeks }} - weeks_on_benefit end) as self_supporting_{{ x }}m_weeks
        {%- endfor %}
    from benefit_weeks_counted
    group by referral_id

),

final as (

    select
        referrals.referral_id
        {%- for x in sustain_months %},
        pivoted.self_supporting_{{ x }}m_window_end,
        pivoted.self_supporting_{{ x }}m_weeks >= {{ min_weeks }} as self_supporting_{{ x }}m
        {%- endfor %}
    from referrals
    left join pivoted
        on referrals.referral_id = pivoted.referral_id

)

select * from final
