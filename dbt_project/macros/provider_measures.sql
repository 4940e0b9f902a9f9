{#-
    The catalogue of provider measures (metrics.md, "Provider measures"): for each measure of
    mart_provider_results, which fct_referral_outcomes columns (int_referrals_outcomes_combined)
    give a referral's membership of the base, its success or value, and the end of its window
    (the day the value became final). int_referral_measures_unpivoted unpivots by it and
    dim_measures publishes it: add a measure here and both follow.

    kind:
      binary      n = referrals in the base, successes = those with success; rate, Wilson interval
      continuous  n and the sum of value; mean and median
      ratio       value_sum / successes (cost per result: the cost of closed referrals over their
                  results)
-#}
{% macro provider_measures() %}
    {%- set fit_days = var('fit_window_days') -%}
    {%- set rehab_days = var('rehab_window_days') -%}
    {%- set grace = var('result_grace_days') -%}
    {%- set sustain = int_list_var('sustain_months') -%}

    {#- Binary measures whose base is "the flag is not NULL": name, window end, label, description. -#}
    {%- set flags = [
        ('any_paid_hours_6m', 'paid_hours_window_end', 'Lønnede timer i forløbsperioden',
         'Paid hours in at least one month of the course window.'),
        ('progressed', 'paid_hours_window_end', 'Progression i lønnede timer',
         'Follow-up minus baseline paid hours per month of at least ' ~ var('progression_min_hours') ~ '.'),
    ] -%}
    {%- for x in sustain -%}
        {%- do flags.append(('sustained_' ~ x ~ 'm', 'sustained_' ~ x ~ 'm_window_end',
            'Fortsat i arbejde ' ~ x ~ ' mdr. efter første jobmåned',
            'Paid hours ' ~ x ~ ' months after the first job month.')) -%}
    {%- endfor -%}
    {%- for x in sustain -%}
        {%- do flags.append(('self_supporting_' ~ x ~ 'm', 'self_supporting_' ~ x ~ 'm_window_end',
            'Selvforsørgende ' ~ x ~ ' mdr. efter første jobmåned',
            'Self-supporting in most of the first weeks of month J + ' ~ x ~ '.')) -%}
    {%- endfor -%}
    {%- do flags.extend([
        ('fit_within_6m', 'fit_window_end', 'Raskmeldt (helt eller delvist) inden for ' ~ fit_days ~ ' dage',
         'Sick-listed at start and declared fit or partially fit within ' ~ fit_days ~ ' days.'),
        ('fully_fit_within_6m', 'fit_window_end', 'Raskmeldt (helt) inden for ' ~ fit_days ~ ' dage',
         'Sick-listed at start and declared fully fit within ' ~ fit_days ~ ' days.'),
        ('rehab_grant_within_12m', 'rehab_window_end', 'Bevilling fra rehabiliteringsteam inden for ' ~ rehab_days ~ ' dage',
         'Flex job, disability pension or resource course granted within ' ~ rehab_days ~ ' days.'),
    ]) -%}

    {%- do flags.extend([
        ('purpose_achieved', 'result_window_end', 'Resultatmål opnået (afsluttede forløb)',
         'Closed courses with a registered result that fits the purpose set at booking (or, for return to work, declared fit).'),
        ('retained_6m', 'retained_6m_window_end', 'Fastholdt ' ~ var('retention_months') ~ ' mdr. efter start på efterværn',
         'Aftercare (efterværn) referrals with paid hours or self-support ' ~ var('retention_months') ~ ' months after the start.'),
    ]) -%}

    {%- set measures = [{
        'name': 'has_result', 'kind': 'binary', 'in_base': 'is_closed', 'success': 'has_result',
        'value': 'null', 'window_end': 'result_window_end',
        'label_da': 'Registreret resultat (afsluttede forløb)',
        'description': 'Closed referrals with a registered result from the start to ' ~ grace ~ ' days after the end.'}] -%}
    {%- for name, window_end, label_da, description in flags -%}
        {%- do measures.append({
            'name': name, 'kind': 'binary', 'in_base': name ~ ' is not null', 'success': name,
            'value': 'null', 'window_end': window_end, 'label_da': label_da, 'description': description}) -%}
    {%- endfor -%}
    {%- do measures.extend([{
        'name': 'paid_hours_progression', 'kind': 'continuous', 'in_base': 'paid_hours_progression is not null',
        'success': 'null', 'value': 'paid_hours_progression', 'window_end': 'paid_hours_window_end',
        'label_da': 'Ændring i lønnede timer pr. måned',
        'description': 'Follow-up minus baseline paid hours per month.'}, {
        'name': 'course_days', 'kind': 'continuous', 'in_base': 'is_course_ended',
        'success': 'null', 'value': 'course_days', 'window_end': 'end_date',
        'label_da': 'Forløbets længde i dage (afsluttede forløb)',
        'description': 'Course days of ended referrals, by the month they ended.'}, {
        'name': 'cost_per_result', 'kind': 'ratio', 'in_base': 'is_closed',
        'success': 'has_result', 'value': 'cost_dkk', 'window_end': 'result_window_end',
        'label_da': 'Pris pr. resultat (kr.)',
        'description': 'Cost of closed referrals divided by their registered results.'}, {
        'name': 'stable_attendance', 'kind': 'binary', 'in_base': 'is_course_ended and stable_attendance is not null',
        'success': 'stable_attendance', 'value': 'null', 'window_end': 'end_date',
        'label_da': 'Stabilt fremmøde (afsluttede forløb)',
        'description': 'Ended courses with at least ' ~ var('stable_attendance_min_weeks') ~ ' attendance weeks that attended at least '
            ~ var('stable_attendance_min_rate') ~ ' of the planned hours in at least ' ~ var('stable_attendance_week_share') ~ ' of them.'}, {
        'name': 'mentor_attendance_rate', 'kind': 'continuous',
        'in_base': 'is_course_ended and attendance_rate is not null and offer_code in ' ~ quoted_list(var('mentor_offers') | map('lower') | list),
        'success': 'null', 'value': 'attendance_rate', 'window_end': 'end_date',
        'label_da': 'Gennemsnitligt fremmøde i mentorforløb (afsluttede forløb)',
        'description': 'Attended over planned hours of ended mentor courses (' ~ var('mentor_offers') | join(', ') ~ ').'}]) -%}
    {#- Efterværn (aftercare) is in no base but its own (metrics.md); earlier links of a course
        are NULL in every measure, so a base that tests a status column also needs the value. -#}
    {%- for measure in measures -%}
        {%- if measure.name != 'retained_6m' -%}
            {%- do measure.update({'in_base': 'not coalesce(is_aftercare, false) and ' ~ measure.in_base}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for measure in measures if measure.name == 'course_days' -%}
        {%- do measure.update({'in_base': measure.in_base ~ ' and course_days is not null'}) -%}
    {%- endfor -%}
    {{ return(measures) }}
{% endmacro %}

{#- The names of the provider measures of one kind (binary, continuous or ratio). -#}
{% macro measure_names(kind) %}
    {%- set names = [] -%}
    {%- for measure in provider_measures() if measure.kind == kind -%}
        {%- do names.append(measure.name) -%}
    {%- endfor -%}
    {{ return(names) }}
{% endmacro %}

{#-
    Join condition: a window that ended in window_end_month is in the rolling base of
    as_of_month (the rolling_months months up to and including it).
-#}
{% macro in_rolling_base(window_end_month, as_of_month) -%}
    {{ window_end_month }} <= {{ as_of_month }}
    and {{ window_end_month }} > {{ add_months(as_of_month, -(var('rolling_months') | int)) }}
{%- endmacro %}
