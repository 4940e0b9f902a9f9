"""Each referral's expected probability per binary measure, from the case-mix model of the as-of
month in which its measure matured (metrics.md, "Risk adjustment"): the input of the
early-warning CUSUM and of the risk-adjusted intervals the reports show.

A dbt Python model beside int_provider_results_risk_adjusted, fitting the same models with the
same library (pipeline.stats.expected, see pipeline/stats/README.md). Incremental like it: the
months that model keeps from the previous build are kept here too, and the fits of the others
resume from its coefficients (pipeline/stats/incremental.py)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from pipeline.stats import load_stats_config
    from pipeline.stats.incremental import (
        month_fingerprints,
        referral_expected_incrementally,
        statistics_digest,
    )

    # The model's config is stats.yaml's alone; the parameters only enter the fingerprint, which
    # must be the one int_provider_results_risk_adjusted stored.
    fingerprints = month_fingerprints(
        dbt.ref("int_risk_base_fingerprinted").df(),
        statistics_digest(dbt.config.get("measure_parameters")),
    )
    return referral_expected_incrementally(
        session,
        dbt.ref("int_risk_base_expanded_to_months"),
        load_stats_config(),
        fingerprints,
        dbt.config.get("previous_build_schema") or None,
    )
