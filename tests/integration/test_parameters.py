"""One home per parameter: `min_n` given once, as a dbt var on the build, changes below_min_n,
the evidence class of the statistics step and the booking decisions together (issue 15).
The report texts read the same value from dim_parameters once the reports are wired to it."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipeline.build import build
from pipeline.decisions.service import decide
from pipeline.parameters import dbt_var_defaults
from pipeline.settings import Settings

pytestmark = pytest.mark.integration

MIN_N = 30
KEY = ["as_of_month", "provider_id", "tender_area", "measure"]


def read(settings: Settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql).df()


def decided(settings: Settings) -> pd.DataFrame:
    decide(settings)
    return read(settings, "SELECT * FROM main.mart_booking_decisions WHERE model = 'soft'")


@pytest.fixture(scope="module")
def before_after(warehouse_copy: Callable[[str], Settings]) -> tuple[Settings, Settings]:
    default, changed = warehouse_copy("min_n_default"), warehouse_copy("min_n_changed")
    build(changed, variables={"min_n": MIN_N})
    return default, changed


def test_min_n_on_the_build_changes_below_min_n_evidence_and_decisions(
    before_after: tuple[Settings, Settings],
) -> None:
    default, changed = before_after
    params = read(changed, "SELECT parameter, value FROM main.dim_parameters")
    assert dict(params.itertuples(index=False))["min_n"] == str(MIN_N)

    binary = "SELECT * FROM main.mart_provider_results WHERE measure_kind = 'binary'"
    old = read(default, binary).set_index(KEY).sort_index()
    new = read(changed, binary).set_index(KEY).sort_index()
    assert (new["below_min_n"] == (new["n"] < MIN_N)).all()
    judged = new["evidence"].notna()
    # Rows the statistics judge: n < min_n is insufficient; from min_n on, the class is the one the
    # default build gave (the funnel limits do not depend on min_n) unless overdispersion moved.
    assert (new.loc[judged & (new["n"] < MIN_N), "evidence"] == "insufficient").all()
    between = judged & (new["n"] >= 20) & (new["n"] < MIN_N) & (old["evidence"] != "insufficient")
    assert between.sum() > 0, "the small data set has judged providers with 20 <= n < 30"

    before, after = decided(default), decided(changed)
    keys = ["month", "provider_id", "tender_area"]
    both = before.merge(after, on=keys, suffixes=("_old", "_new"))
    small = (both["n_new"] >= 20) & (both["n_new"] < MIN_N)
    assert (both.loc[both["n_new"] < MIN_N, "evidence_new"] == "insufficient").all()
    assert (both.loc[small, "evidence_old"] != "insufficient").any()
    mart = new.reset_index()
    mart = mart.assign(month=mart["as_of_month"])[[*keys, "measure", "evidence"]]
    joined = after.merge(mart, on=[*keys, "measure"], suffixes=("", "_mart"))
    # The decision's evidence is the mart's, where there is something to compare with.
    comparable = joined["area_rate_excl_provider"].notna() & joined["z_score"].notna()
    assert np.array_equal(joined.loc[comparable, "evidence"], joined.loc[comparable, "evidence_mart"])
    assert (
        after.loc[after["n"].between(20, MIN_N - 1) & (after["reason_code"] == "insufficient"), "reason"]
        .str.contains(f"mindst {MIN_N}")
        .all()
    )
    assert (both["state_old"] != both["state_new"]).any() or (
        both["evidence_old"] != both["evidence_new"]
    ).any()


def test_a_build_with_another_min_n_records_another_rule_version(
    before_after: tuple[Settings, Settings],
) -> None:
    """The same rules.yaml decided on builds with different min_n decides differently, so the
    rows carry different rule versions, and meta.rule_versions keeps each build's min_n."""
    default, changed = before_after
    versions = {}
    for settings in (default, changed):
        rows = decided(settings)
        assert rows["rule_version"].nunique() == 1
        versions[settings.warehouse] = rows["rule_version"].iloc[0]
        recorded = read(settings, "SELECT rule_version, parameters FROM meta.rule_versions")
        kept = dict(recorded.itertuples(index=False))
        min_n = MIN_N if settings is changed else dbt_var_defaults()["min_n"]
        assert f'"min_n":{min_n}' in kept[versions[settings.warehouse]]
    assert versions[default.warehouse] != versions[changed.warehouse]
