"""The dashboard's "what it takes to move up" box says what the statistics step found (the one
evidence class, mart_provider_results.evidence, with its z-score and expected count): a
provider within the limits is told so, and a count of missing results is computed from that
expected number and z-score (brute force here)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import norm

from pipeline.decisions.rules import load_rules
from pipeline.reports.config import load_config
from pipeline.reports.data import load_report_data
from pipeline.reports.pages import next_step_soft
from pipeline.reports.views import AreaView
from tests.unit.test_reports_views import MONTH, marts  # noqa: F401  (fixture)

N, SUCCESSES, AREA_RATE = 80, 20, 0.45  # unadjusted: far below the 95 % limit


def _view(
    source: Path, target: Path, evidence: str, z: float, expected: float, decided: str = "warning"
) -> AreaView:
    """P1's mart row of the month: evidence `evidence` from the risk-adjusted z-score `z` with
    `expected`; the decision row says `decided` (which the box must not read)."""
    shutil.copytree(source, target)
    decisions = pd.read_parquet(target / "mart_booking_decisions.parquet")
    mine = (decisions["provider_id"] == "P1") & (pd.to_datetime(decisions["month"]) == pd.Timestamp(MONTH))
    for column, value in {"evidence": decided, "ok_streak": 0}.items():
        if column not in decisions:
            decisions[column] = None
        decisions.loc[mine, column] = value
    decisions.to_parquet(target / "mart_booking_decisions.parquet")
    results = pd.read_parquet(target / "mart_provider_results.parquet")
    results["expected"] = results["n"] * results["area_rate"]
    results["evidence"], results["z_score"], results["adjustment"] = "ok", 0.0, "risk_adjusted"
    p1 = (results["provider_id"] == "P1") & (pd.to_datetime(results["as_of_month"]) == pd.Timestamp(MONTH))
    values = {
        "n": N,
        "successes": SUCCESSES,
        "area_rate": AREA_RATE,
        "expected": expected,
        "evidence": evidence,
        "z_score": z,
    }
    for column, value in values.items():
        results.loc[p1, column] = value
    results.to_parquet(target / "mart_provider_results.parquet")
    config = load_config()
    data = load_report_data(target, MONTH.strftime("%Y-%m"), config)
    return AreaView(data, 1, config, load_rules(), data.provider_names())


def test_a_provider_the_decision_found_within_the_limits_is_told_so(marts, tmp_path: Path) -> None:  # noqa: F811
    # unadjusted, 20 of 80 against 45 % would be far below the limit; the decision read the
    # risk-adjusted z of -0,5 and found the provider within it
    assert (SUCCESSES - N * AREA_RATE) / math.sqrt(N * AREA_RATE * (1 - AREA_RATE)) < norm.ppf(0.025)
    text = next_step_soft(_view(marts, tmp_path / "m", "ok", -0.5, 21.5, decided="warning"), "P1")
    assert "inden for 95 %-grænsen" in text
    assert "flere have haft resultat" not in text and "uden risikojustering" not in text


def test_the_missing_results_are_counted_on_the_decisions_basis(marts, tmp_path: Path) -> None:  # noqa: F811
    expected, z = 30.0, -2.5  # so the decision's spread is (20 - 30) / -2.5 = 4
    spread = (SUCCESSES - expected) / z
    first_ok = next(s for s in range(N) if (SUCCESSES + s - expected) / spread >= norm.ppf(0.025))
    text = next_step_soft(_view(marts, tmp_path / "m", "warning", z, expected), "P1")
    assert f"skulle {first_ok} flere have haft resultat" in text, text
    assert "risikojusteret" in text
    assert first_ok == 3


@pytest.mark.parametrize("evidence", ["insufficient"])
def test_no_count_without_evidence(marts, tmp_path: Path, evidence: str) -> None:  # noqa: F811
    text = next_step_soft(_view(marts, tmp_path / "m", evidence, math.nan, 30.0), "P1")
    assert "flere have haft resultat" not in text
