{#-
    Date arithmetic the measures need, built on dbt's cross-database macros (dateadd, datediff,
    date_trunc, last_day) so that the models port to another adapter. Each returns a DATE:
    DuckDB's interval arithmetic returns a TIMESTAMP, other engines differ, so the cast is here
    once instead of in every model.
-#}

{% macro add_days(date_expr, days) -%}
    cast({{ dbt.dateadd('day', days, date_expr) }} as date)
{%- endmacro %}

{% macro add_months(date_expr, months) -%}
    cast({{ dbt.dateadd('month', months, date_expr) }} as date)
{%- endmacro %}

{% macro month_start(date_expr) -%}
    cast({{ dbt.date_trunc('month', date_expr) }} as date)
{%- endmacro %}

{% macro month_end(date_expr) -%}
    cast({{ dbt.last_day(date_expr, 'month') }} as date)
{%- endmacro %}

{#- last(M + k): the last day of the month k months after the month of date_expr. -#}
{% macro month_end_after(date_expr, months) -%}
    {{ month_end(add_months(month_start(date_expr), months)) }}
{%- endmacro %}

{% macro days_between(start_expr, end_expr) -%}
    {{ dbt.datediff(start_expr, end_expr, 'day') }}
{%- endmacro %}

{% macro months_between(start_month_expr, end_month_expr) -%}
    {{ dbt.datediff(start_month_expr, end_month_expr, 'month') }}
{%- endmacro %}

{#-
    The first Monday on or after a date. Counted from 1900-01-01, a Monday, so that no
    day-of-week function (whose numbering differs between engines) is needed.
-#}
{% macro first_monday_on_or_after(date_expr) -%}
    {{ add_days(date_expr,
        "mod(7 - mod(" ~ days_between("cast('1900-01-01' as date)", date_expr) ~ ", 7), 7)") }}
{%- endmacro %}

{#- The Monday of the week a date falls in (ISO weeks start on Monday). -#}
{% macro monday_on_or_before(date_expr) -%}
    {{ add_days(date_expr,
        "- mod(" ~ days_between("cast('1900-01-01' as date)", date_expr) ~ ", 7)") }}
{%- endmacro %}

{#- Age in whole years on a date; a birthday on 29 February is reached on 1 March. -#}
{% macro age_in_whole_years(birth_date_expr, on_date_expr) -%}
    (extract(year from {{ on_date_expr }}) - extract(year from {{ birth_date_expr }})
     - case
         when extract(month from {{ on_date_expr }}) * 100 + extract(day from {{ on_date_expr }})
              < extract(month from {{ birth_date_expr }}) * 100 + extract(day from {{ birth_date_expr }})
         then 1 else 0
       end)
{%- endmacro %}

{#-
    Weeks of a spell of consecutive weeks (first and last Monday) that fall in a window of weeks
    (first and last Monday); 0 when they do not overlap.
-#}
{% macro weeks_overlapping(spell_first, spell_last, window_first, window_last) -%}
    case
        when {{ spell_first }} <= {{ window_last }} and {{ spell_last }} >= {{ window_first }}
        then {{ days_between(
            'case when ' ~ spell_first ~ ' > ' ~ window_first ~ ' then ' ~ spell_first ~ ' else ' ~ window_first ~ ' end',
            'case when ' ~ spell_last ~ ' < ' ~ window_last ~ ' then ' ~ spell_last ~ ' else ' ~ window_last ~ ' end'
        ) }} / 7 + 1
        else 0
    end
{%- endmacro %}

{#-
    Weeks on benefit in windows of weeks, one row per group of `keys`: the select of a CTE over
    `windows` (a relation with person_id, first_monday and last_monday, the Mondays of the
    window's first and last week) and `spells` (int_benefit_weeks_grouped_to_spells). A window
    no spell touches counts 0. The retention, self-support and case-mix measures all count
    benefit weeks in a window this way; the join and the overlap are here once.
-#}
{% macro weeks_on_benefit_in_windows(windows, spells, keys) -%}
    select
        {%- for key in keys %}
        {{ windows }}.{{ key }},
        {%- endfor %}
        coalesce(sum({{ weeks_overlapping(
            spells ~ '.first_week_start', spells ~ '.last_week_start',
            windows ~ '.first_monday', windows ~ '.last_monday'
        ) }}), 0) as weeks_on_benefit
    from {{ windows }}
    left join {{ spells }}
        on {{ spells }}.person_id = {{ windows }}.person_id
       and {{ spells }}.first_week_start <= {{ windows }}.last_monday
       and {{ spells }}.last_week_start >= {{ windows }}.first_monday
    group by
        {%- for key in keys %}
        {{ windows }}.{{ key }}{{ "," if not loop.last }}
        {%- endfor %}
{%- endmacro %}
