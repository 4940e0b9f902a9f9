"""Allocation of new referrals: shares of state x capacity, capped by capacity with what a cap
frees redistributed in proportion and the rest reported as shortfall ("kapacitet mangler");
hand examples, and on random areas the invariants against an independent computation (the
water level found by bisection); whole referrals add up to the rounded allocated volume with
the smallest possible rounding error (checked by brute force), all-RED areas are said, not
divided by zero. (The expected volume and the capacity are the dbt project's,
fct_decision_inputs, tested there.)"""

import itertools
import math
import random

import pandas as pd
import pytest

from pipeline.decisions import (
    Allocation,
    allocate,
    largest_remainder,
)
from tests.fixtures.allocation_reference import water_level_amounts


def shares(*rows: tuple[str, int, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["provider_id", "tender_area", "share"])


def test_shares_times_capacity_normalised_within_the_area() -> None:
    result = allocate(
        shares(("P01", 1, 1.0), ("P02", 1, 0.5), ("P03", 1, 1.0), ("P04", 2, 0.5)),
        volumes={1: 24.0, 2: 7.0},
        capacity={("P01", 1): 20, ("P02", 1): 40, ("P03", 1): 10, ("P04", 2): 8},
    )
    p = result.providers.set_index("provider_id")
    # weights 20, 20, 10 -> 0.4, 0.4, 0.2 of 24 referrals
    assert p.loc[["P01", "P02", "P03"], "allocation_share"].tolist() == pytest.approx([0.4, 0.4, 0.2])
    assert p.loc[["P01", "P02", "P03"], "expected_referrals"].tolist() == pytest.approx([9.6, 9.6, 4.8])
    assert p.loc[["P01", "P02", "P03"], "referrals_per_month"].tolist() == [
        10,
        9,
        5,
    ]  # tie: larger quota, then order
    assert p.loc["P04", "allocation_share"] == 1.0 and p.loc["P04", "referrals_per_month"] == 7
    assert not p["capped"].any() and (result.areas["shortfall"] == 0).all()


def test_a_cap_frees_referrals_that_go_to_the_others_in_proportion() -> None:
    # weights 10 (GREEN, capacity 10) and 0.5 x 20 = 10 (ORANGE, capacity 20); 24 referrals:
    # 12 each would put P01 above its 10, so P01 gets 10 and P02 the other 14 (below its 20)
    result = allocate(shares(("P01", 1, 1.0), ("P02", 1, 0.5)), {1: 24.0}, {("P01", 1): 10, ("P02", 1): 20})
    p = result.providers.set_index("provider_id")
    assert p["expected_referrals"].tolist() == pytest.approx([10.0, 14.0])
    assert p["referrals_per_month"].tolist() == [10, 14]
    assert p["capped"].tolist() == [True, False]
    assert p["allocation_share"].tolist() == pytest.approx([10 / 24, 14 / 24])
    assert result.areas.loc[0, "shortfall"] == 0 and "Kapacitet mangler" not in result.areas.loc[0, "note"]


def test_caps_are_applied_again_until_nobody_is_above_its_capacity() -> None:
    # shares 1, 0.5, 0.25 x capacities 10, 16, 40 = weights 10, 8, 10; 50 referrals.
    # Round 1: level 50/28: P01 17.9 > 10 (capped), P02 14.3 <= 16, P03 17.9 <= 40.
    # Round 2: 40 left over weights 18: P02 17.8 > 16 (capped). Round 3: P03 takes the 24 left.
    result = allocate(
        shares(("P01", 1, 1.0), ("P02", 1, 0.5), ("P03", 1, 0.25)),
        {1: 50.0},
        {("P01", 1): 10, ("P02", 1): 16, ("P03", 1): 40},
    )
    p = result.providers.set_index("provider_id")
    assert p["expected_referrals"].tolist() == pytest.approx([10.0, 16.0, 24.0])
    assert p["capped"].tolist() == [True, True, False]
    assert result.areas.loc[0, "allocated"] == pytest.approx(50.0)


def test_what_no_provider_can_take_is_reported_as_shortfall() -> None:
    # capacities 10 and 20 in total 30; volume 35: everyone at its cap, 5 per month short
    result = allocate(shares(("P01", 1, 1.0), ("P02", 1, 0.5)), {1: 35.0}, {("P01", 1): 10, ("P02", 1): 20})
    p = result.providers.set_index("provider_id")
    assert p["expected_referrals"].tolist() == pytest.approx([10.0, 20.0])
    assert p["referrals_per_month"].tolist() == [10, 20]
    area = result.areas.iloc[0]
    assert area["allocated"] == pytest.approx(30.0) and area["shortfall"] == pytest.approx(5.0)
    assert area["referrals_per_month"] == 30
    assert area["note"] == (
        "Kapacitet mangler: 5,0 af 35,0 forventede henvisninger pr. måned "
        "kan ingen leverandør i området modtage."
    )


def test_a_provider_of_unknown_capacity_has_no_cap_and_takes_the_rest() -> None:
    # P02 has no capacity: weighted with the mean (10) but not capped, so nothing is short
    result = allocate(shares(("P01", 1, 1.0), ("P02", 1, 1.0)), {1: 30.0}, {("P01", 1): 10})
    p = result.providers.set_index("provider_id")
    assert p["expected_referrals"].tolist() == pytest.approx([10.0, 20.0])
    assert p["capacity_cap"].isna().tolist() == [False, True]
    assert result.areas.loc[0, "shortfall"] == 0


def test_missing_capacity_gets_equal_weights_or_the_area_mean() -> None:
    none_known = allocate(shares(("P01", 1, 1.0), ("P02", 1, 0.5)), volumes={1: 9.0})
    assert none_known.providers["allocation_share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert "de vægtes ens" in none_known.areas.loc[0, "note"]
    some_known = allocate(
        shares(("P01", 1, 1.0), ("P02", 1, 1.0), ("P03", 1, 1.0)),
        volumes={1: 9.0},
        capacity={("P01", 1): 10, ("P02", 1): 20},
    )
    # P03 weighted with the mean of 10 and 20
    assert some_known.providers["allocation_share"].tolist() == pytest.approx([10 / 45, 20 / 45, 15 / 45])
    assert "Kapacitet ikke oplyst for 1 leverandør(er)" in some_known.areas.loc[0, "note"]


def test_an_area_where_nobody_may_receive_is_said_not_divided_by_zero() -> None:
    result = allocate(shares(("P01", 1, 0.0), ("P02", 1, 0.0), ("P03", 2, 1.0)), volumes={1: 12.0, 2: 3.0})
    area1 = result.providers[result.providers["tender_area"] == 1]
    assert area1["allocation_share"].tolist() == [0.0, 0.0]
    assert area1["referrals_per_month"].tolist() == [0, 0]
    summary = result.areas.set_index("tender_area")
    assert summary.loc[1, "receiving"] == 0
    assert summary.loc[1, "note"].startswith("Ingen leverandør i området kan modtage nye henvisninger")
    assert (
        summary.loc[2, "referrals_per_month"] == 3
        and summary.loc[2, "note"]
        == "Kapacitet ikke oplyst for nogen leverandør; de vægtes ens og har intet loft."
    )


def test_without_a_volume_only_shares_are_given() -> None:
    result = allocate(shares(("P01", 1, 1.0)), volumes={})
    assert result.providers.loc[0, "allocation_share"] == 1.0
    assert result.providers["referrals_per_month"].isna().all()
    assert "Ingen forventet volumen" in result.areas.loc[0, "note"]


def random_area_rows(rng: random.Random) -> list[tuple[str, int, float]]:
    return [
        (f"P{i:02d}", area, rng.choice([1.0, 1.0, 0.5, 0.25, 0.0]))
        for area in (1, 2, 3, 4)
        for i in range(rng.randint(1, 7))
    ]


def check_invariants(result: Allocation, volumes: dict[int, float]) -> None:
    """Sum = min(volume, total capacity) (all of the volume when a receiver has no known cap);
    nobody above its cap, not even in whole referrals; proportional to the weights among the
    uncapped, and a capped provider would have got more; whole referrals add up."""
    areas = {r["tender_area"]: r for r in result.areas.to_dict("records")}
    for area, group in result.providers.groupby("tender_area"):
        volume, summary, rows = volumes[area], areas[area], group.to_dict("records")
        caps = [None if math.isnan(r["capacity_cap"]) else r["capacity_cap"] for r in rows]
        expected = [r["expected_referrals"] for r in rows]
        weights = [r["weight"] for r in rows]
        assert expected == pytest.approx(water_level_amounts(weights, caps, volume), abs=1e-6)
        receiving = [i for i, w in enumerate(weights) if w > 0]
        if not receiving:
            total = 0.0
        elif any(caps[i] is None for i in receiving):
            total = volume
        else:
            total = min(volume, sum(caps[i] for i in receiving))  # type: ignore[misc]
        assert sum(expected) == pytest.approx(total, abs=1e-9)
        assert summary["allocated"] == pytest.approx(total, abs=1e-9)
        assert summary["shortfall"] == pytest.approx(volume - total, abs=1e-9)
        assert ("Kapacitet mangler" in summary["note"]) == bool(receiving and volume - total > 1e-9)
        if volume > 0:
            assert [r["allocation_share"] for r in rows] == pytest.approx([e / volume for e in expected])
        for r, cap, quota in zip(rows, caps, expected, strict=True):
            whole = r["referrals_per_month"]
            assert math.floor(quota + 1e-9) <= whole <= math.ceil(quota - 1e-9)
            if cap is not None:
                assert quota <= cap * (1 + 1e-9) and whole <= cap
            if r["weight"] <= 0:
                assert quota == 0 and whole == 0
        levels = [expected[i] / weights[i] for i in receiving if not rows[i]["capped"]]
        assert levels == pytest.approx([levels[0]] * len(levels) if levels else [])
        for i in receiving:
            if rows[i]["capped"] and levels:
                assert caps[i] / weights[i] <= levels[0] * (1 + 1e-9)  # type: ignore[operator]
        assert sum(r["referrals_per_month"] for r in rows) == summary["referrals_per_month"]
        assert summary["referrals_per_month"] == math.floor(total + 0.5)  # whole capacities


def test_random_allocations_keep_the_invariants_of_capped_shares() -> None:
    """A property test over seeded random areas (hypothesis is not a dependency of the project)."""
    rng = random.Random(3)
    for _ in range(120):
        rows = random_area_rows(rng)
        capacity = {(p, a): rng.choice([None, rng.randint(0, 60), rng.randint(0, 60)]) for p, a, _ in rows}
        volumes = {a: rng.choice([0.0, rng.uniform(0, 300)]) for a in (1, 2, 3, 4)}
        check_invariants(allocate(shares(*rows), volumes, capacity), volumes)


def test_largest_remainder_keeps_below_limits() -> None:
    # 7.5 may not round up to 8 under a limit of 7.5: the other quota takes the extra one
    assert largest_remainder([7.5, 2.5], 10, [7.5, None]) == [7, 3]
    with pytest.raises(ValueError, match="cannot round"):
        largest_remainder([7.5, 2.5], 10, [7.5, 2.5])


def brute_force_rounding(quotas: list[float], total: int) -> float:
    """The smallest total rounding error over every floor/ceiling choice adding up to total."""
    best = math.inf
    for ups in itertools.product((0, 1), repeat=len(quotas)):
        counts = [math.floor(q) + u for q, u in zip(quotas, ups, strict=True)]
        if sum(counts) == total:
            best = min(best, sum(abs(c - q) for c, q in zip(counts, quotas, strict=True)))
    return best


def test_largest_remainder_has_the_smallest_rounding_error() -> None:
    rng = random.Random(9)
    for _ in range(300):
        quotas = [rng.uniform(0, 20) for _ in range(rng.randint(1, 8))]
        total = math.floor(sum(quotas) + 0.5)
        counts = largest_remainder(quotas, total)
        assert sum(counts) == total
        error = sum(abs(c - q) for c, q in zip(counts, quotas, strict=True))
        assert error == pytest.approx(brute_force_rounding(quotas, total))
    with pytest.raises(ValueError, match="cannot round"):
        largest_remainder([0.5, 0.5], 3)
