"""The early-warning chart's threshold h per as-of month × tender area, set by simulation for the
in-control false-signal target (decisions.md, "Early warning"; pipeline/stats/cusum.py) from the
referrals of fct_cusum_referrals, with the fingerprint of the window it was simulated from.
fct_provider_cusum runs the chart with these thresholds.

Incremental (pipeline/stats/cusum_incremental.py): with var previous_build_schema (set by
provmon build unless --full-refresh), the thresholds whose window is unchanged are kept from
that build and only the others simulated; a Python model cannot call var(), so
_marts__models.yml renders the cusum_* vars into its config as JSON."""


def model(dbt, session):
    dbt.config(materialized="table")
    import json

    from pipeline.stats.cusum import CusumParams
    from pipeline.stats.cusum_incremental import thresholds_incrementally

    params = CusumParams.from_vars(json.loads(dbt.config.get("cusum_parameters")))
    months = dbt.ref("int_as_of_months_spined").df()
    referrals = dbt.ref("fct_cusum_referrals").df()
    # A statement of its own: dbt finds the config keys a model reads only in plain calls.
    previous = dbt.config.get("previous_build_schema")
    return thresholds_incrementally(session, referrals, months["as_of_month"], params, previous or None)
