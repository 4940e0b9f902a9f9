"""Allocation of new referrals: shares sum to 1 per area, whole referrals add up to the rounded
volume with the smallest possible rounding error (checked by brute force), all-RED areas are
said, not divided by zero. (The expected volume and the capacity are the dbt project's,
fct_decision_inputs, tested there.)"""

import itertools
import math
import random

import pandas as pd
import pytest

from pipeline.decisions import (
    allocate,
    largest_remainder,
)


def shares(*rows: tuple[str, int, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["provider_id", "tender_area", "share"])


def test_shares_times_capacity_normalised_within_the_area() -> None:
    result = allocate(
        shares(("P01", 1, 1.0), ("P02", 1, 0.5), ("P03", 1, 1.0), ("P04", 2, 0.5)),
        volumes={1: 24.0, 2: 7.0},
        capacity={("P01", 1): 20, ("P02", 1): 40, ("P03", 1): 10, ("P04", 2): 5},
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
    assert "Kapacitet mangler for 1 leverandør(er)" in some_known.areas.loc[0, "note"]


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
        and summary.loc[2, "note"] == "Kapacitet mangler for alle leverandører; de vægtes ens."
    )


def test_without_a_volume_only_shares_are_given() -> None:
    result = allocate(shares(("P01", 1, 1.0)), volumes={})
    assert result.providers.loc[0, "allocation_share"] == 1.0
    assert result.providers["referrals_per_month"].isna().all()
    assert "Ingen forventet volumen" in result.areas.loc[0, "note"]


def test_random_allocations_sum_to_one_and_to_the_rounded_volume() -> None:
    rng = random.Random(3)
    for _ in range(120):
        rows = [
            (f"P{i:02d}", area, rng.choice([1.0, 1.0, 0.5, 0.0]))
            for area in (1, 2, 3, 4)
            for i in range(rng.randint(1, 7))
        ]
        capacity = {(p, a): rng.choice([None, rng.randint(0, 60)]) for p, a, _ in rows}
        volumes = {a: rng.uniform(0, 300) for a in (1, 2, 3, 4)}
        result = allocate(shares(*rows), volumes, capacity)
        for area, group in result.providers.groupby("tender_area"):
            if group["weight"].sum() > 0:
                assert group["allocation_share"].sum() == pytest.approx(1.0)
                assert group["referrals_per_month"].sum() == math.floor(volumes[area] + 0.5)
            else:
                assert group["referrals_per_month"].sum() == 0
            for expected, whole in zip(
                group["expected_referrals"], group["referrals_per_month"], strict=True
            ):
                assert math.floor(expected) <= whole <= math.ceil(expected)
            assert (group.loc[group["state_share"] == 0, "referrals_per_month"] == 0).all()


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
