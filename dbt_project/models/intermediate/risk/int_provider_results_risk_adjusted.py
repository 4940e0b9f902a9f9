"""Risk adjustment and funnel-plot data per as_of_month × provider × tender area × binary measure.

A dbt Python model so the lineage stays visible in dbt (int_referral_measures_unpivoted ->
int_risk_base_expanded_to_months -> this -> mart_provider_results). The statistics themselves
live in pipeline/stats (grouped logistic case-mix model per area × measure × month, O/E with
interval, funnel limits, overdispersion; see pipeline/stats/README.md), so they are tested as a
library and the same code serves the benchmark.

The measure and evidence parameters (min_n, funnel levels and limit method, overdispersion,
interval level) are dbt vars: a Python model cannot call var(), so _risk__models.yml renders them
into this model's config as `measure_parameters` (JSON), read here with dbt.config.get.

Incremental (pipeline/stats/incremental.py): with var previous_build_schema (set by provmon build
unless --full-refresh), the months whose risk base and every earlier month's are unchanged
(int_risk_base_fingerprinted) are kept from that build and only the rest are fitted."""


def model(dbt, session):
    dbt.config(materialized="table")
    from pipeline.stats import load_stats_config
    from pipeline.stats.incremental import month_fingerprints, risk_adjust_incrementally, statistics_digest

    parameters = dbt.config.get("measure_parameters")
    config = load_stats_config(parameters=parameters)
    fingerprints = month_fingerprints(
        dbt.ref("int_risk_base_fingerprinted").df(), statistics_digest(parameters)
    )
    return risk_adjust_incrementally(
        session,
        dbt.ref("int_risk_base_expanded_to_months"),
        config,
        fingerprints,
        dbt.config.get("previous_build_schema") or None,
    )
