"""Risk adjustment and funnel-plot data per as_of_month × provider × tender area × binary measure.

A dbt Python model so the lineage stays visible in dbt (int_referral_measures_unpivoted ->
int_risk_base_expanded_to_months -> this -> mart_provider_results). The statistics themselves
live in pipeline/stats (grouped logistic case-mix model per area × measure × month, O/E with
interval, funnel limits, overdispersion; see pipeline/stats/README.md), so they are tested as a
library and the same code serves the benchmark."""


def model(dbt, session):
    dbt.config(materialized="table")
    from pipeline.stats import risk_adjust

    return risk_adjust(dbt.ref("int_risk_base_expanded_to_months"))
