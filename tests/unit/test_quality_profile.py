"""Delivery profiles and the numbers derived from them agree with the same numbers computed
another way: pandas over the landing rows, pandas' rolling median, dateutil's ages."""

from __future__ import annotations

import random
from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest
from dateutil.relativedelta import relativedelta

from pipeline.contract import load_contract
from pipeline.quality.config import load_config
from pipeline.quality.frames import _age, relative
from pipeline.quality.layout import LandingTable
from pipeline.quality.profile import DeliveryProfile, Profiler
from pipeline.warehouse import ensure_schemas

REFERRALS = LandingTable(load_contract().extracts["referrals"])
RULE = load_config().landing.end_reason_missing
VOLUME = load_config().landing.volume


def referral_rows(n: int, load_id: int, delivered: date, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    starts = [delivered - timedelta(days=rng.randint(30, 900)) for _ in range(n)]
    ends = [s + timedelta(days=rng.randint(10, 400)) if rng.random() < 0.6 else None for s in starts]
    return pd.DataFrame(
        {
            "referral_id": [f"R{load_id}-{i % (n - 2)}" for i in range(n)],  # two keys twice
            "person_key": [f"{i:064x}" for i in range(n)],
            "birth_date": [date(1960 + i % 40, 1 + i % 12, 1 + i % 28) for i in range(n)],
            "sex": ["M" if i % 2 else "F" for i in range(n)],
            "agreement_id": [f"A{i % 5}" for i in range(n)],
            "booked_on": [s - timedelta(days=7) for s in starts],
            "start_date": starts,
            "planned_end_date": [s + timedelta(days=180) for s in starts],
            "end_date": ends,
            "end_reason": [rng.choice(["job", "completed", None]) if e else None for e in ends],
            "purpose": [rng.choice(["job", "paid_hours"]) for _ in range(n)],
            "benefit_at_start": ["cash_assistance"] * n,
            "hours_min": [float(rng.randint(0, 10)) for _ in range(n)],
            "hours_max": [float(rng.randint(10, 20)) for _ in range(n)],
            "jobcenter_unit": [None if i % 3 else "Nord" for i in range(n)],
            "_load_id": load_id,
            "_file": f"referrals_{delivered:%Y%m%d}.csv",
            "_delivery_date": delivered,
            "_row_number": range(1, n + 1),
            "_extra": None,
        }
    )


@pytest.fixture(scope="module")
def landing() -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame]:
    con = duckdb.connect(":memory:")
    ensure_schemas(con)
    rows = pd.concat([referral_rows(40, 1, date(2024, 3, 5), 1), referral_rows(25, 2, date(2024, 4, 5), 2)])
    con.register("rows", rows)
    con.execute("INSERT INTO landing.referrals BY NAME SELECT * FROM rows")
    return con, rows


def test_profile_counts_and_bounds_equal_pandas_over_the_rows(landing: tuple) -> None:
    con, rows = landing
    profiles = Profiler(REFERRALS, set(rows.columns), RULE).profile(con, [1, 2, 3])
    assert profiles[3] == DeliveryProfile()  # a load with no landing rows
    for load_id, delivery in rows.groupby("_load_id"):
        profile = profiles[load_id]
        assert profile.duplicate_key_rows == len(delivery) - delivery["referral_id"].nunique()
        assert profile.nulls["end_date"] == delivery["end_date"].isna().sum()
        assert profile.nulls["jobcenter_unit"] == delivery["jobcenter_unit"].isna().sum()
        assert profile.minimum["start_date"] == delivery["start_date"].min()
        assert profile.maximum["birth_date"] == delivery["birth_date"].max()
        assert profile.maximum["hours_max"] == delivery["hours_max"].max()
        assert profile.codes["purpose"] == delivery["purpose"].value_counts().to_dict()
        assert profile.codes["end_reason"] == delivery["end_reason"].dropna().value_counts().to_dict()
        ends = delivery["end_date"].fillna(delivery["planned_end_date"])
        ended = ends < delivery["_delivery_date"] - timedelta(days=RULE.grace_days)
        assert profile.ended == ended.sum()
        assert profile.ended_without_reason == (ended & delivery["end_reason"].isna()).sum()


def test_a_column_missing_from_the_table_is_left_out_not_an_error(landing: tuple) -> None:
    con, rows = landing
    present = set(rows.columns) - {"end_reason", "referral_id"}
    profile = Profiler(REFERRALS, present, RULE).profile(con, [1])[1]
    assert "end_reason" not in profile.codes and "end_reason" not in profile.nulls
    assert profile.ended is None and profile.duplicate_key_rows == 0


def test_a_profile_survives_its_cache_format() -> None:
    low, high = {"d": date(2024, 1, 2)}, {"d": date(2024, 2, 1)}
    profile = DeliveryProfile(3, {"a": 1}, low, high, {"c": {"x": 4}}, 5, 1)
    back = DeliveryProfile.from_json(profile.to_json())
    assert back.minimum == {"d": "2024-01-02"}  # dates come back as ISO text; the frames parse them
    assert (back.duplicate_key_rows, back.nulls, back.codes, back.ended) == (3, {"a": 1}, {"c": {"x": 4}}, 5)


def test_volume_ratio_is_rows_over_the_rolling_median_of_the_previous_deliveries() -> None:
    rng = random.Random(7)
    rows = [rng.randint(50, 150) for _ in range(30)]
    medians, ratios = relative(rows, VOLUME, VOLUME.min_median_rows)
    previous = pd.Series(rows, dtype=float).shift(1)
    expected = previous.rolling(VOLUME.previous_deliveries, min_periods=VOLUME.min_previous).median()
    for i, want in enumerate(expected):
        if pd.isna(want):
            assert medians[i] is None and ratios[i] is None
        else:
            assert medians[i] == pytest.approx(want)
            assert ratios[i] == pytest.approx(rows[i] / want)


def test_a_small_median_is_not_judged() -> None:
    medians, ratios = relative([3, 4, 5, 2, 9], VOLUME, floor=20)
    assert medians == [None] * 5 and ratios == [None] * 5


@pytest.mark.parametrize("born", [date(1950, 3, 5), date(1950, 3, 6), date(2000, 2, 29), date(1999, 12, 31)])
def test_age_in_whole_years(born: date) -> None:
    on = date(2024, 3, 5)
    assert _age(born, on) == relativedelta(on, born).years
