"""The early-warning chart per as-of month × tender area × provider: the risk-adjusted Bernoulli
CUSUM on the area's primary measure (decisions.md, "Early warning"), run over the referrals of
fct_cusum_referrals with the area's h of each month from fct_cusum_thresholds (simulated for
the in-control false-signal target, kept from the previous build where its window is
unchanged). The statistics are pipeline.stats.cusum's; a Python model cannot call var(), so
_marts__models.yml renders the cusum_* vars into this model's config as JSON."""


def model(dbt, session):
    dbt.config(materialized="table")
    import json

    from pipeline.stats.cusum import CusumParams, cusum_by_month
    from pipeline.stats.cusum_incremental import stored_thresholds

    params = CusumParams.from_vars(json.loads(dbt.config.get("cusum_parameters")))
    months = dbt.ref("int_as_of_months_spined").df()
    thresholds = stored_thresholds(dbt.ref("fct_cusum_thresholds").df())
    return cusum_by_month(dbt.ref("fct_cusum_referrals").df(), months["as_of_month"], params, thresholds)
