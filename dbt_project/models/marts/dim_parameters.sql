{#-
    The parameters this build was made with, one row per parameter, as text: the dbt vars that
    judge a provider (their one home is dbt_project.yml; a build may override them with --vars)
    and the build's as_of. Reports and the decision step read min_n, the funnel levels and the
    primary measures from here, so they always agree with the marts of the same build. A nested
    var is flattened to one row per key: `overdispersion.mode`, `primary_measures.2`, ...
-#}
{%- set described = [
    ('rolling_months', 'Months in the rolling base of a provider result (rullende basis).'),
    ('min_n', 'Fewer referrals in the base than this: too few to judge (evidence insufficient, below_min_n).'),
    ('funnel_warning_level', 'Two-sided level of the funnel limit below which the evidence is warning.'),
    ('funnel_alarm_level', 'Two-sided level of the funnel limit below which the evidence is alarm.'),
    ('funnel_limits', 'Funnel limit method: exact (interpolated binomial) or normal.'),
    ('comparison_interval_level', 'Level of the interval of O/E and the risk-adjusted rate.'),
    ('overdispersion', 'Overdispersion rule of the funnel plot'),
    ('primary_measures', 'The measure both booking models judge in tender area'),
    ('booking_volume_months', 'Expected monthly volume of an area = mean bookings over this many latest months.'),
] -%}
{%- set rows = [] -%}
{%- for name, description in described -%}
    {%- set value = var(name) -%}
    {%- if value is mapping -%}
        {%- for key, item in value.items() -%}
            {%- do rows.append((name ~ '.' ~ key, item, description ~ ': ' ~ key ~ '.')) -%}
        {%- endfor -%}
    {%- else -%}
        {%- do rows.append((name, value, description)) -%}
    {%- endif -%}
{%- endfor -%}
with

as_of as (

    select * from {{ ref('int_as_of_resolved') }}

),

vars as (

    {%- for name, value, description in rows %}
    select
        '{{ name }}' as parameter,
        '{{ value | string | replace("'", "''") }}' as value,
        '{{ description | replace("'", "''") }}' as description
    union all
    {%- endfor %}
    select
        'as_of' as parameter,
        cast(as_of.as_of as {{ dbt.type_string() }}) as value,
        'The date the data of this build is known up to, inclusive (resolved as_of).' as description
    from as_of

),

final as (

    select
        cast(parameter as {{ dbt.type_string() }}) as parameter,
        cast(value as {{ dbt.type_string() }}) as value,
        cast(description as {{ dbt.type_string() }}) as description
    from vars

)

select * from final
