"""The newest delivery of every monthly extract is as large as the validation suite expects.

A register (sickness cases, paid hours, benefit weeks) delivers every month's rows, also those of
citizens referred only after the data end. The generator once wrote register rows only around the
period's referrals, so the history before the referrals starting just after it was missing and
the newest deliveries thinned out: on the small data set of the test fixtures (seed 1) the
newest sickness-case delivery had 0.56 of the previous median, and `provmon validate` stopped
with a critical breach of `volume.newest`.

Rows are counted here from the files with the independent reader of test_generate, and the
ratio is the one the check computes (pipeline/quality/quality.yaml, landing.volume, read here
as plain YAML): the newest delivery's rows over the median of the `previous_deliveries` before
it, judged when at least `min_previous` precede it and their median is at least
`min_median_rows`; it must not be below the newest band's critical bound (nor above it, when
there is one)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import yaml

from pipeline.generate import generate
from pipeline.quality.config import CONFIG_FILE
from tests.integration.test_generate import MONTHLY, deliveries, read_delivery

pytestmark = pytest.mark.integration
SEEDS = (1, 2, 3)  # conftest.SMALL_SEED and its neighbours


def volume_config() -> dict:
    return yaml.safe_load(Path(CONFIG_FILE).read_text(encoding="utf-8"))["landing"]["volume"]


@pytest.fixture(scope="module")
def rows_per_delivery(tmp_path_factory) -> dict[int, dict[str, list[int]]]:
    """seed -> extract -> rows of each delivery in delivery order, as the test fixtures
    generate the small data set (default dirt rate)."""
    out: dict[int, dict[str, list[int]]] = {}
    for seed in SEEDS:
        folder = tmp_path_factory.mktemp(f"small{seed}")
        generate("small", seed=seed, out=folder)
        out[seed] = {
            extract: [len(read_delivery(path)) for _, path in deliveries(folder, extract)]
            for extract in MONTHLY
        }
    return out


def newest_ratio(rows: list[int], volume: dict) -> float | None:
    """The newest delivery over the median of the previous ones; None when not judged."""
    previous = rows[-1 - volume["previous_deliveries"] : -1]
    if len(previous) < volume["min_previous"]:
        return None
    median = statistics.median(previous)
    return rows[-1] / median if median >= volume["min_median_rows"] else None


@pytest.mark.parametrize("seed", SEEDS)
def test_newest_delivery_volume_is_within_the_critical_band(rows_per_delivery, seed: int) -> None:
    volume = volume_config()
    low, high = volume["newest"].get("critical_below"), volume["newest"].get("critical_above")
    ratios = {extract: newest_ratio(rows, volume) for extract, rows in rows_per_delivery[seed].items()}
    judged = {extract: round(r, 2) for extract, r in ratios.items() if r is not None}
    # the person registers are always judged at small scale: the check has to bite
    assert {"sickness_cases", "paid_hours", "benefit_weeks"} <= set(judged), judged
    breaches = {
        extract: r
        for extract, r in judged.items()
        if (low is not None and r < low) or (high is not None and r > high)
    }
    assert not breaches, f"seed {seed}: newest / previous median outside [{low}, {high}]: {judged}"
