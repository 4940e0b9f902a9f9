{#-
    The one as_of of this build, resolved once and joined everywhere else, so that no model
    can disagree about what "known at as_of" means. var('as_of') wins; without it, the last day
    of the month before the newest referrals delivery (metrics.md).
-#}
{%- set as_of_var = var('as_of') -%}
{%- if as_of_var is not none -%}
    {%- set as_of_text = as_of_var | string -%}
    {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', as_of_text) -%}
        {{ exceptions.raise_compiler_error("var as_of must be a date YYYY-MM-DD, got '" ~ as_of_text ~ "'") }}
    {%- endif -%}
    {%- set _ = modules.datetime.date.fromisoformat(as_of_text) -%}
{%- endif -%}

with

referrals as (

    select * from {{ ref('stg_landing__referrals') }}

),

newest_delivery as (

    select max(_delivery_date) as newest_referrals_delivery_date
    from referrals

),

resolved as (

    select
        {% if as_of_var is not none -%}
        cast('{{ as_of_text }}' as date) as as_of,
        {%- else -%}
        {{ month_end(add_months(month_start('newest_referrals_delivery_date'), -1)) }} as as_of,
        {%- endif %}
        {{ 'true' if as_of_var is not none else 'false' }} as as_of_given,
        newest_referrals_delivery_date
    from newest_delivery

),

final as (

    select
        as_of,
        {{ month_start('as_of') }} as as_of_month,
        as_of_given,
        newest_referrals_delivery_date
    from resolved

)

select * from final
