"""Planted dirt: each bad row breaks exactly the one rule its kind names, counted exactly."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import cpr
from pipeline.contract import load_contract
from pipeline.generate.dirt import DirtSpec, plant
from pipeline.generate.rows import Labels, Rows, Vocab
from pipeline.generate.timeline import NULL, is_bad

KINDS = ["invalid_cpr", "bad_date", "unknown_code", "duplicate", "end_before_start"]
SPEC = DirtSpec(
    0.05,
    {"referrals": KINDS, "paid_hours": ["invalid_cpr", "bad_date", "negative_hours"]},
    ["ukendt", "x"],
    2,
)
CODES = load_contract().extracts["referrals"].columns


def referrals(n: int = 400) -> Rows:
    rng = np.random.default_rng(0)
    start = 19_000 + rng.integers(0, 300, n)
    ended = rng.random(n) < 0.5

    def codes(column: str) -> Labels:
        vocab = CODES[column].codes
        return Labels(rng.integers(0, len(vocab), n), Vocab(vocab))

    reasons = codes("end_reason")
    reasons.idx[~ended] = -1
    return Rows(
        "referrals",
        np.zeros(n, dtype=np.int64),
        {
            "referral_id": Labels(np.arange(n), Vocab([f"H{i}" for i in range(n)])),
            "cpr": Labels(np.arange(n), Vocab([f"{1 + i % 28:02d}0175{1000 + i:04d}" for i in range(n)])),
            "agreement_id": Labels(np.zeros(n, dtype=np.int64), Vocab(["A1"])),
            "booked_on": start - 7,
            "start_date": start,
            "planned_end_date": start + 90,
            "end_date": np.where(ended, start + 60, NULL),
            "end_reason": reasons,
            "purpose": codes("purpose"),
            "benefit_at_start": Labels(np.zeros(n, dtype=np.int64), Vocab(["cash_assistance"])),
            "hours_min": np.full(n, 5.0),
            "hours_max": np.full(n, 10.0),
            "jobcenter_unit": Labels(np.zeros(n, dtype=np.int64), Vocab(["Jobcenter Østerbro"])),
        },
    )


def broken_rules(rows: Rows) -> dict[str, np.ndarray]:
    """Which rule each row breaks, judged from the columns (independently of plant)."""
    c = rows.columns
    texts = {name: col.texts() for name, col in c.items() if isinstance(col, Labels)}
    unknown = np.zeros(len(rows), bool)
    for name in ("end_reason", "purpose", "benefit_at_start"):
        unknown |= np.array([t is not None and t not in CODES[name].codes for t in texts[name]])
    bad_date = np.zeros(len(rows), bool)
    for name in ("booked_on", "start_date", "planned_end_date", "end_date"):
        bad_date |= is_bad(c[name])
    ok_dates = ~is_bad(c["end_date"]) & ~is_bad(c["start_date"]) & (c["end_date"] != NULL)
    return {
        "invalid_cpr": np.array([cpr.parse(t) is None for t in texts["cpr"]]),
        "bad_date": bad_date,
        "unknown_code": unknown,
        "end_before_start": ok_dates & (c["end_date"] < c["start_date"]),
    }


def test_each_planted_row_breaks_exactly_the_rule_of_its_kind() -> None:
    original = referrals()
    rows, counts = plant(original, SPEC, np.random.default_rng(1), lambda column: True, force=True)
    broken = broken_rules(rows)
    for kind, flags in broken.items():
        assert flags.sum() == counts[kind], kind
    assert (np.sum(list(broken.values()), axis=0) <= 1).all()
    assert len(rows) == len(original) + counts["duplicate"]
    ids = rows.columns["referral_id"].texts()
    assert (
        sum(ids[i] == ids[i + 1] for i in range(len(ids) - 1)) == counts["duplicate"]
    )  # next to its original
    assert set(counts) == set(KINDS)
    ended = ~is_bad(rows.columns["end_date"]) & (rows.columns["end_date"] != NULL)
    assert (rows.columns["end_reason"].idx[ended] >= 0).all()  # an end date keeps its reason


def test_force_plants_one_of_each_kind_even_without_a_rate() -> None:
    spec = DirtSpec(0.0, SPEC.kinds, SPEC.unknown_codes, 2)
    _, counts = plant(referrals(), spec, np.random.default_rng(2), lambda column: True, force=True)
    assert dict(counts) == dict.fromkeys(KINDS, 1)


def test_no_rate_and_no_force_changes_nothing() -> None:
    original = referrals()
    rows, counts = plant(
        original,
        DirtSpec(0.0, SPEC.kinds, SPEC.unknown_codes, 2),
        np.random.default_rng(3),
        lambda column: True,
        force=False,
    )
    assert rows is original and not counts


def test_a_file_whose_dates_are_typed_gets_no_impossible_date() -> None:
    n = 200
    hours = Rows(
        "paid_hours",
        np.zeros(n, dtype=np.int64),
        {
            "cpr": Labels(np.arange(n), Vocab([f"0101{60 + i % 30:02d}{1000 + i:04d}" for i in range(n)])),
            "month": np.full(n, 640),
            "hours": np.full(n, 37.5),
        },
    )
    rows, counts = plant(hours, SPEC, np.random.default_rng(4), lambda column: column != "month", force=True)
    assert "bad_date" not in counts and not is_bad(rows.columns["month"]).any()
    assert counts["negative_hours"] == (rows.columns["hours"] < 0).sum() >= 1


@pytest.mark.parametrize("rate", [0.01, 0.1])
def test_the_rate_is_the_share_of_rows(rate: float) -> None:
    spec = DirtSpec(rate, SPEC.kinds, SPEC.unknown_codes, 2)
    _, counts = plant(referrals(4000), spec, np.random.default_rng(5), lambda column: True, force=False)
    assert abs(sum(counts.values()) / 4000 - rate) < 4 * np.sqrt(rate / 4000)
