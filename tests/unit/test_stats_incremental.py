"""The incremental risk adjustment's bookkeeping (pipeline/stats/incremental.py): which months of
the previous build are kept, where the fits resume from, and that resuming after a kept prefix
gives bit for bit the rows a full computation gives."""

from __future__ import annotations

import datetime as dt
import json
import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipeline.stats import load_stats_config, risk_adjust
from pipeline.stats.expected import referral_expected
from pipeline.stats.incremental import (
    Resume,
    ResumePlan,
    digest_libraries,
    digest_sources,
    kept_prefix,
    month_fingerprints,
    pending_base,
    resume_points,
    statistics_digest,
)

JAN, FEB, MAR, APR = (dt.date(2024, m, 1) for m in (1, 2, 3, 4))


def fingerprints(rows: list[tuple[int, str, dt.date, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["tender_area", "measure", "as_of_month", "base_fingerprint"])


def test_the_unchanged_months_before_the_first_change_are_kept() -> None:
    previous = fingerprints([(1, "m", JAN, "a"), (1, "m", FEB, "b"), (1, "m", MAR, "c")])
    # February corrected: it and every later month are recomputed, even March's equal fingerprint
    current = fingerprints([(1, "m", JAN, "a"), (1, "m", FEB, "B"), (1, "m", MAR, "c"), (1, "m", APR, "d")])
    assert kept_prefix(current, previous) == {(1, "m"): JAN}


def test_each_area_and_measure_keeps_its_own_prefix() -> None:
    previous = fingerprints([(1, "m", JAN, "a"), (1, "m", FEB, "b"), (2, "m", JAN, "x"), (1, "k", JAN, "y")])
    current = fingerprints(
        [(1, "m", FEB, "b"), (1, "m", JAN, "a"), (1, "m", MAR, "c"),  # unordered: months sorted first
         (2, "m", JAN, "X"), (2, "m", FEB, "z"),  # changed in the first month: nothing kept
         (1, "k", JAN, "y")]
    )  # fmt: skip
    assert kept_prefix(current, previous) == {(1, "m"): FEB, (2, "m"): None, (1, "k"): JAN}


def test_a_month_missing_in_the_previous_build_ends_the_prefix() -> None:
    previous = fingerprints([(1, "m", JAN, "a"), (1, "m", MAR, "c")])
    current = fingerprints([(1, "m", JAN, "a"), (1, "m", FEB, "b"), (1, "m", MAR, "c")])
    assert kept_prefix(current, previous) == {(1, "m"): JAN}


def test_a_month_only_the_previous_build_has_ends_the_prefix() -> None:
    """A correction can empty a month's rolling base (the area's only referrals of a year moved
    elsewhere): the month is gone from this build, and keeping the months after it would keep
    the previous build's rows of the gone month too (the kept rows are a range of months)."""
    previous = fingerprints([(1, "m", JAN, "a"), (1, "m", FEB, "b"), (1, "m", MAR, "c")])
    current = fingerprints([(1, "m", FEB, "b"), (1, "m", MAR, "c")])
    assert kept_prefix(current, previous) == {(1, "m"): None}
    previous = fingerprints([(1, "m", JAN, "a"), (1, "m", FEB, "b"), (1, "m", MAR, "c")])
    current = fingerprints([(1, "m", JAN, "a"), (1, "m", MAR, "c"), (1, "m", APR, "d")])
    assert kept_prefix(current, previous) == {(1, "m"): JAN}


def test_fits_resume_from_the_last_kept_month_with_a_model() -> None:
    coefficients = pd.DataFrame(
        {
            "tender_area": [1, 1, 1, 2],
            "measure": ["m"] * 4,
            "as_of_month": [JAN, FEB, MAR, JAN],
            "model_coefficients": [json.dumps({"x": 0.1}), "", json.dumps({"x": 0.3}), None],
        }
    )
    points = resume_points({(1, "m"): FEB, (2, "m"): JAN, (3, "m"): None}, coefficients)
    # February fell back (no coefficients): January's carry on, as in a full computation
    assert points == {(1, "m"): Resume(FEB, {"x": 0.1}), (2, "m"): Resume(JAN, None), (3, "m"): Resume()}
    assert ResumePlan(points).kept_filter().count(" or ") == 1  # the two pairs that keep months


def test_the_fingerprint_carries_the_rows_the_hash_and_the_statistics_digest() -> None:
    fingerprinted = pd.DataFrame(
        {"tender_area": [1], "measure": ["m"], "as_of_month": [pd.Timestamp(JAN)], "base_rows": [7],
         "base_hash": [np.uint64(2**63 + 5)]}
    )  # fmt: skip
    frame = month_fingerprints(fingerprinted, "d1")
    assert frame.iloc[0].to_dict() == {
        "tender_area": 1, "measure": "m", "as_of_month": JAN, "base_fingerprint": f"d1:7:{2**63 + 5}"
    }  # fmt: skip
    assert statistics_digest('{"min_n": 20}') != statistics_digest('{"min_n": 30}')


def test_the_digest_covers_the_risk_models_code_and_the_numeric_libraries() -> None:
    """Kept months are only exact while the code that turns the risk base into results is the
    same: the statistics, the dbt models of the risk step, and the libraries whose arithmetic
    decides the last bit of a fit."""
    sources = {path.name for path in digest_sources()}
    assert {"compare.py", "stats.yaml", "int_provider_results_risk_adjusted.py",
            "int_risk_base_expanded_to_months.sql", "fct_referral_expected.py",
            "risk_base.sql"} <= sources  # fmt: skip
    assert {"numpy", "scipy", "statsmodels", "duckdb", "pandas", "pyarrow"} <= set(digest_libraries())


# --- resuming gives the full computation's rows -----------------------------------------------


def risk_base(months: int = 6, seed: int = 3) -> pd.DataFrame:
    """A rolling-base-like risk base: per month, referrals of four providers with a covariate
    that moves the outcome, so each month's model is fitted (and warm-started)."""
    rng = np.random.default_rng(seed)
    rows = []
    for month in range(months):
        as_of = dt.date(2024, month + 1, 1)
        for i in range(400):
            age = int(rng.integers(18, 65))
            p = 1 / (1 + np.exp(-(-1.0 + 0.03 * (age - 40))))
            rows.append(
                {"as_of_month": as_of, "tender_area": 1, "measure": "m", "provider_id": f"P{i % 4}",
                 "referral_id": f"R{month}-{i}", "window_end_month": as_of, "outcome": bool(rng.random() < p),
                 "age_at_start": age, "sex": "MF"[i % 2], "benefit_at_start": "kontant",
                 "benefit_weeks_52": int(rng.integers(0, 52)), "paid_hours_baseline": 0.0,
                 "prior_referrals": 0, "offer_code": "A", "purpose": "job",
                 "start_quarter": dt.date(2024, 1, 1)}
            )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("kept_through", [dt.date(2024, 2, 1), dt.date(2024, 4, 1)])
def test_resuming_after_a_kept_prefix_gives_the_full_computation_bit_for_bit(kept_through: dt.date) -> None:
    config = load_stats_config()
    base = risk_base()
    full = risk_adjust(base, config)
    assert (full["adjustment_status"] == "adjusted").all()  # the warm start is exercised
    months = pd.to_datetime(full["as_of_month"]).dt.date
    kept = full[months <= kept_through]
    points = resume_points({(1, "m"): kept_through}, kept)
    resumed = risk_adjust(base, config, ResumePlan(points).after(), ResumePlan(points).start())
    assert pd.to_datetime(resumed["as_of_month"]).dt.date.min() > kept_through
    expected = full[months > kept_through]
    pd.testing.assert_frame_equal(
        in_order(resumed, "provider_id"), in_order(expected, "provider_id"), check_exact=True
    )

    # fct_referral_expected reads the kept and the resumed rows' coefficients
    full_p = referral_expected(base, config, full)
    resumed_p = referral_expected(base, config, pd.concat([kept, resumed], ignore_index=True))
    pd.testing.assert_frame_equal(
        in_order(resumed_p, "referral_id"), in_order(full_p, "referral_id"), check_exact=True
    )


def test_the_pending_rows_are_the_rows_not_kept_and_give_the_same_fits() -> None:
    """An incremental build reads the rows it recomputes into memory once (pending_base); the
    statistics on them equal those on the whole base with the same resume points."""
    config = load_stats_config()
    base = risk_base()
    full = risk_adjust(base, config)
    kept_through = dt.date(2024, 3, 1)
    months = pd.to_datetime(full["as_of_month"]).dt.date
    plan = ResumePlan(resume_points({(1, "m"): kept_through}, full[months <= kept_through]))
    with duckdb.connect() as con:
        pending = pending_base(con, con.from_df(base), plan)
        rows = pending.df()
        assert len(rows) == int((base["as_of_month"] > kept_through).sum())
        assert (pd.to_datetime(rows["as_of_month"]).dt.date > kept_through).all()
        resumed = risk_adjust(pending, config, plan.after(), plan.start())
        # nothing kept: the view itself, never read into memory
        whole = con.from_df(base)
        assert pending_base(con, whole, ResumePlan()) is whole
    pd.testing.assert_frame_equal(
        in_order(resumed, "provider_id"),
        in_order(full[months > kept_through], "provider_id"),
        check_exact=True,
    )


def test_the_pending_rows_are_bounded_by_month_where_every_area_and_measure_keeps_months() -> None:
    """The condition on the rows to compute selects exactly the rows not kept; when every area ×
    measure keeps months it also bounds as_of_month alone (which DuckDB can push into the risk
    base view's month spine), and DuckDB does push it there: the join reads only later months."""
    points = {(1, "a"): Resume(FEB), (2, "b"): Resume(MAR)}
    plan = ResumePlan(points)
    assert plan.pending_filter().startswith(f"\"as_of_month\" > '{FEB.isoformat()}' and ")
    rows = [(area, measure, month) for area, measure in points for month in (JAN, FEB, MAR, APR)]
    with duckdb.connect() as con:
        con.execute("create table spine as select unnest([?, ?, ?, ?]) as as_of_month", [JAN, FEB, MAR, APR])
        con.execute("create table pairs (tender_area integer, measure varchar, window_end_month date)")
        con.executemany("insert into pairs values (?, ?, ?)", rows)
        con.execute(
            "create view base as select pairs.tender_area, pairs.measure, spine.as_of_month from pairs "
            "join spine on pairs.window_end_month between spine.as_of_month - interval 1 month "
            "and spine.as_of_month"
        )
        view = con.table("base")
        assert sorted(view.filter(plan.pending_filter()).fetchall()) == sorted(
            view.filter(f"not ({plan.kept_filter()})").fetchall()
        )
        explained = "\n".join(
            row[1]
            for row in con.execute(f"explain select * from base where {plan.pending_filter()}").fetchall()
        )
        assert re.search(
            rf"SEQ_SCAN.*?spine.*?Filters:.*?as_of_month>'{FEB.isoformat()}'", explained, flags=re.DOTALL
        ), explained
    # an area × measure that keeps nothing: no bound; nothing kept at all: every row
    assert '"as_of_month" >' not in ResumePlan({**points, (3, "c"): Resume(None)}).pending_filter()
    assert ResumePlan().pending_filter() == "true"


def in_order(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rows in the order of their grain (the row order of a table is not part of its content)."""
    return frame.sort_values(["tender_area", "measure", "as_of_month", key]).reset_index(drop=True)
