"""Each referral as it enters the early-warning chart (decisions.md, "Early warning"): the day its
primary measure's outcome became known, y and its expected probability p as known then
(pipeline.decisions.early_warning.chart_referrals: from fct_referral_expected when the model of
the month its measure matured was known by that month, else the area's rate of the month). The
input of both fct_cusum_thresholds and fct_provider_cusum; a Python model cannot call var(), so
_marts__models.yml renders primary_measures into its config as JSON."""


def model(dbt, session):
    dbt.config(materialized="table")
    from pipeline.stats.cusum_incremental import chart_input

    # dbt finds a model's refs by reading its code, and misses one under a subscript.
    months = dbt.ref("int_as_of_months_spined").df()
    return chart_input(
        dbt.ref("int_referrals_primary_dated").df(),
        dbt.ref("fct_referral_expected").df(),
        dbt.ref("mart_provider_results").df(),
        months["as_of_month"],
        dbt.config.get("primary_measures"),
    )
