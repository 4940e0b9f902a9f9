"""The early-warning chart per as-of month × tender area × provider: the risk-adjusted Bernoulli
CUSUM on the area's primary measure (decisions.md, "Early warning"), with h set per area and
month by simulation for the in-control false-signal target. The chart's glue is
pipeline.decisions.early_warning, its statistics pipeline.stats.cusum; a Python model cannot
call var(), so _marts__models.yml renders the cusum_* vars and primary_measures into this
model's config as JSON."""


def model(dbt, session):
    dbt.config(materialized="table")
    import json

    from pipeline.decisions.early_warning import chart
    from pipeline.stats.cusum import CusumParams

    variables = json.loads(dbt.config.get("cusum_parameters"))
    primary = {int(a): m for a, m in variables.pop("primary_measures").items()}
    months = dbt.ref("int_as_of_months_spined").df()["as_of_month"]
    results = dbt.ref("mart_provider_results").df()
    primary_rows = results[results["measure"] == results["tender_area"].astype(int).map(primary)]
    area_rates = primary_rows.groupby(["as_of_month", "tender_area"], as_index=False)["area_rate"].max()
    return chart(
        dbt.ref("int_referrals_primary_dated").df(),
        dbt.ref("fct_referral_expected").df(),
        area_rates,
        months,
        primary,
        CusumParams.from_vars(variables),
    )
