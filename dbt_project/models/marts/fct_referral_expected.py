"""Each referral's expected probability per binary measure, from the case-mix model of the
as-of month in which its measure matured (metrics.md, "Risk adjustment"): the input of the
early-warning CUSUM and of the risk-adjusted intervals the reports show.

A dbt Python model after int_provider_results_risk_adjusted: it fits nothing itself, but reads
each month's coefficients from that model's rows and applies them to the referrals that matured
in the month (pipeline.stats.expected, see pipeline/stats/README.md). So the models are fitted
once per build.

Incremental (pipeline/stats/incremental.py): with var previous_build_schema (set by provmon build
unless --full-refresh), the months the risk adjustment kept from that build keep their rows
here too, and only the referrals of the other months are computed."""


def model(dbt, session):
    dbt.config(materialized="table")
    from pipeline.stats import load_stats_config
    from pipeline.stats.incremental import referral_expected_incrementally

    # A statement of its own: dbt finds the config keys a model reads only in plain calls.
    previous = dbt.config.get("previous_build_schema")
    return referral_expected_incrementally(
        session,
        dbt.ref("int_risk_base_expanded_to_months"),
        load_stats_config(),
        dbt.ref("int_provider_results_risk_adjusted"),
        previous or None,
    )
