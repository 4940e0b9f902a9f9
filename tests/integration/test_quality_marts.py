"""The mart suites on hand-made Parquet marts: correct marts pass; a person-level column, a
clear CPR where a pseudonym belongs, a rate above 1, more successes than referrals, a key
twice and an unknown code each fail their check, with the planted count; a clear CPR reaches
neither the error, nor the Data Docs, nor the stored results."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline.quality import CriticalQualityError, QualitySummary, validate_marts
from pipeline.settings import Settings
from pipeline.warehouse import ensure_schemas

N = 40


def fct_referral_outcomes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "referral_id": [f"R{i}" for i in range(N)],
            "person_key": [f"{i:064x}" for i in range(N)],
            "tender_area": [1 + i % 4 for i in range(N)],
            "offer_code": [["virk", "mest", "ment"][i % 3] for i in range(N)],
            "purpose": ["job"] * N,
            "benefit_at_start": ["cash_assistance"] * N,
            "end_reason": [None if i % 2 else "completed" for i in range(N)],
            "course_days": [30 + i for i in range(N)],
            "cost_dkk": [1000.0 * i for i in range(N)],
            "paid_hours_baseline": [0.0] * N,
            "paid_hours_followup": [None] * N,
            "attendance_rate": [0.9] * N,
            "age_at_start": [25 + i for i in range(N)],
            "benefit_weeks_52": [i % 53 for i in range(N)],
            "prior_referrals": [0] * N,
        }
    )


def mart_provider_results() -> pd.DataFrame:
    months = pd.date_range("2024-01-01", periods=N, freq="MS")
    n = [20 + i for i in range(N)]
    successes = [i % 15 for i in range(N)]
    rate = [s / k for s, k in zip(successes, n, strict=True)]
    return pd.DataFrame(
        {
            "as_of_month": months,
            "provider_id": "P01",
            "tender_area": 1,
            "measure": "has_result",
            "n": n,
            "successes": successes,
            "rate": rate,
            "rate_low": [r * 0.5 for r in rate],
            "rate_high": [min(1.0, r * 1.5 + 0.05) for r in rate],
            "area_n": [k * 4 for k in n],
            "area_successes": [s * 3 for s in successes],
            "area_rate": [0.3] * N,
            "area_rate_excl_provider": [0.31] * N,
        }
    )


def settings_with(tmp_path: Path, fct: pd.DataFrame | None, mart: pd.DataFrame | None) -> Settings:
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_schemas(con)
    marts = tmp_path / "marts"
    marts.mkdir()
    for name, frame in (("fct_referral_outcomes", fct), ("mart_provider_results", mart)):
        if frame is not None:
            frame.to_parquet(marts / f"{name}.parquet", index=False)
    return Settings(
        warehouse=warehouse, raw_dir=tmp_path / "raw", marts_dir=marts, out_dir=tmp_path / "reports"
    )


def failed(summary: QualitySummary, table: str) -> dict[str, str]:
    return {r.expectation: r.observed_value for r in summary.critical if r.table_name == table}


def test_correct_marts_pass(tmp_path: Path) -> None:
    summary = validate_marts(settings_with(tmp_path, fct_referral_outcomes(), mart_provider_results()))
    assert summary.critical == [] and summary.warnings == []
    assert len(summary.results) > 30


def test_each_planted_mart_problem_fails_its_check(tmp_path: Path) -> None:
    fct = fct_referral_outcomes()
    fct.loc[3, "person_key"] = "0101901234"
    fct.loc[5, "end_reason"] = "fyret"
    fct.loc[6, "offer_code"] = "010190-1234"  # a CPR typed into the wrong field
    fct = pd.concat([fct, fct.iloc[[7]]])
    mart = mart_provider_results()
    mart["person_key"] = "f" * 64
    mart.loc[2, "rate"] = 1.2
    mart.loc[[4, 6], "successes"] = mart.loc[[4, 6], "n"] + 1
    mart = pd.concat([mart, mart.iloc[[9]]])
    with pytest.raises(CriticalQualityError) as caught:
        validate_marts(settings_with(tmp_path, fct, mart))
    summary = caught.value.summary
    assert failed(summary, "fct_referral_outcomes") == {
        "pseudonym.person_key": "1",
        "codes.end_reason": "value = fyret (rows 1)",
        "codes.offer_code": "value = 010190-**** (rows 1)",
        "keys_unique": "1",
    }
    assert failed(summary, "mart_provider_results") == {
        "person_level_columns": "column_name = person_key",
        "range.rate.max": "1.2",
        "not_above.rate.rate_high": "1",  # the same row: a rate above 1 is above its interval too
        "not_above.successes.n": "2",
        "keys_unique": "1",
    }
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        stored = [
            " ".join(map(str, row)) for row in con.execute("SELECT * FROM meta.quality_results").fetchall()
        ]
    files = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.suffix in (".html", ".json")]
    shown = [str(caught.value), *stored, *files]
    assert len(files) > 5 and len(stored) == len(summary.results)
    assert not [text for text in shown if "0101901234" in text or "010190-1234" in text]


def test_a_missing_mart_is_critical(tmp_path: Path) -> None:
    with pytest.raises(CriticalQualityError) as caught:
        validate_marts(settings_with(tmp_path, fct_referral_outcomes(), None))
    found = failed(caught.value.summary, "mart_provider_results")
    assert set(found) == {"has_rows", "schema.columns"}
    assert found["has_rows"] == "0"
