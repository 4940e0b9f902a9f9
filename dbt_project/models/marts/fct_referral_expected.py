"""Each referral's expected probability per binary measure, from the case-mix model of the as-of
month in which its measure matured (metrics.md, "Risk adjustment"): the input of the
early-warning CUSUM and of the risk-adjusted intervals the reports show.

A dbt Python model beside int_provider_results_risk_adjusted, fitting the same models with the
same library (pipeline.stats.expected, see pipeline/stats/README.md)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from pipeline.stats.expected import referral_expected

    return referral_expected(dbt.ref("int_risk_base_expanded_to_months"))
