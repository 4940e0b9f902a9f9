{#-
    The columns of int_referral_measures_unpivoted that enter the risk model (pipeline/stats):
    the keys, the month the measure matured, the outcome and the case-mix covariates of
    pipeline/stats/stats.yaml. One list for the risk base itself and for its fingerprint
    (int_risk_base_fingerprinted): a column the model reads but the fingerprint missed would
    let an incremental build keep a month whose model changed.
-#}
{% macro risk_base_columns() -%}
    {{ return(['tender_area', 'measure', 'provider_id', 'referral_id', 'window_end_month', 'success',
               'age_at_start', 'sex', 'benefit_at_start', 'benefit_weeks_52', 'paid_hours_baseline',
               'prior_referrals', 'offer_code', 'purpose', 'start_quarter']) }}
{%- endmacro %}
