{#-
    The parameters the build ran with, one row per parameter, so that every reader (the
    reports, their texts) states the values the numbers were computed with instead of a copy
    of them. Values are text; a reader converts the ones it needs.
-#}
with

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

parameters as (

    {%- set rows = [
        ('min_n', var('min_n'), 'Fewest referrals in a base to judge a provider (below_min_n, evidence insufficient).'),
        ('rolling_months', var('rolling_months'), 'Months in the rolling base of an as-of month.'),
        ('funnel_warning_level', var('funnel_warning_level'), 'Funnel-plot level below whose lower limit the evidence is warning.'),
        ('funnel_alarm_level', var('funnel_alarm_level'), 'Funnel-plot level below whose lower limit the evidence is alarm.'),
        ('funnel_limits', var('funnel_limits'), 'Funnel limits: exact (interpolated binomial) or normal.'),
        ('comparison_interval_level', var('comparison_interval_level'), 'Level of the interval for O/E and the risk-adjusted rate.'),
    ] %}
    {%- for name, value, description in rows %}
    select
        '{{ name }}' as parameter,
        cast('{{ value }}' as {{ dbt.type_string() }}) as value,
        '{{ description | replace("'", "''") }}' as description
    union all
    {%- endfor %}
    select
        'as_of' as parameter,
        cast(as_of.as_of as {{ dbt.type_string() }}) as value,
        'The date the data is known up to, inclusive (the var as_of, or the month end before the newest referrals delivery).' as description
    from as_of

)

select * from parameters
