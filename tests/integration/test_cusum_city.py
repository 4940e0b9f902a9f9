"""The early-warning chart on the city data (issue 17, item 4, third test): the risk-adjusted
Bernoulli CUSUM (fct_provider_cusum) signals for each drop the generator planted
(ground_truth.json: role `drops`, drop_month), within the issue's target months of the drop, and
before the drop it behaves as in control: its signals there are no more than the in-control
target (one per cusum_arl_months) allows by chance. And the soft model of the back-test reacts
to each drop no later than the chart's first signal after it (decisions.md: a signal moves
GREEN to YELLOW).

The targets are the issue's, counted from the drop month (the month from which the provider's
new referrals do worse), to the first month at or after it in which the chart signals."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd
import pytest
import yaml
from scipy.stats import poisson

from pipeline.build import PROJECT_DIR
from pipeline.decisions.rules import Model, SoftState
from pipeline.decisions.service import run_backtest
from pipeline.months import months_between
from pipeline.settings import GROUND_TRUTH_FILE, Settings
from tests.conftest import copy_settings

pytestmark = pytest.mark.integration

# Issue 17, "Targets": the soft model reacts within 4 months of the drop's start in tender area 1
# (has_result) and within 7 in tender area 2 (fit_within_6m needs 6 months to mature). Its first
# reaction to a drop is the chart's signal (GREEN -> YELLOW), so the chart must signal by then.
TARGET_MONTHS = {1: 4, 2: 7}
# Before the drop the provider is in control: its signals there must not exceed what the target
# rate allows by chance (the 99 % quantile of a Poisson count with the target's mean).
IN_CONTROL_QUANTILE = 0.99


@dataclass(frozen=True)
class Drop:
    provider: str
    area: int
    month: date


@dataclass(frozen=True)
class CityChart:
    chart: pd.DataFrame  # fct_provider_cusum
    drops: list[Drop]
    arl_months: float


@pytest.fixture(scope="module")
def city_chart(city_warehouse: Settings) -> CityChart:
    truth = json.loads((city_warehouse.raw_dir / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
    drops = [
        Drop(pid, int(area), date.fromisoformat(f"{p['drop_month']}-01"))
        for pid, p in sorted(truth["providers"].items())
        if p["role"] == "drops"
        for area in p["areas"]
    ]
    with duckdb.connect(str(city_warehouse.warehouse), read_only=True) as con:
        chart = con.execute("SELECT * FROM main.fct_provider_cusum").df()
    chart["as_of_month"] = pd.to_datetime(chart["as_of_month"]).dt.date
    variables = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
    return CityChart(chart, drops, float(variables["cusum_arl_months"]))


@pytest.fixture(scope="module")
def city_soft_decisions(city_warehouse: Settings, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Model B's rows of `provmon backtest` over the whole build (on a copy: it records its run)."""
    settings = copy_settings(city_warehouse, tmp_path_factory.mktemp("city_backtest"))
    decisions = run_backtest(settings).decisions
    return decisions[decisions["model"] == Model.SOFT.value]


def own_chart(city: CityChart, drop: Drop) -> pd.DataFrame:
    c = city.chart
    rows = c[(c["provider_id"] == drop.provider) & (c["tender_area"] == drop.area)].sort_values("as_of_month")
    assert not rows.empty, f"{drop.provider} has no chart in tender area {drop.area}"
    return rows


def test_the_city_data_plant_one_drop_in_each_large_area(city_chart: CityChart) -> None:
    assert sorted(d.area for d in city_chart.drops) == sorted(TARGET_MONTHS)


@pytest.mark.parametrize(
    "area",
    [
        pytest.param(
            1,
            marks=pytest.mark.xfail(
                strict=True,
                reason="seed 1: with calibrated expected probabilities (quarter of the year as "
                "the start quarter) the first signal after the area-1 drop comes 5 months after "
                "it (target 4); README, Back-test",
            ),
        ),
        pytest.param(
            2,
            marks=pytest.mark.xfail(
                strict=True,
                reason="seed 1: the first signal after the area-2 drop comes 8 months after it "
                "(target 7); README, Back-test",
            ),
        ),
    ],
)
def test_the_chart_signals_within_the_target_months_of_the_drop(city_chart: CityChart, area: int) -> None:
    (drop,) = [d for d in city_chart.drops if d.area == area]
    rows = own_chart(city_chart, drop)
    after = rows[(rows["as_of_month"] >= drop.month) & rows["signal"]]
    assert not after.empty, f"{drop.provider}: no signal after its drop in {drop.month:%Y-%m}"
    first = after["as_of_month"].iloc[0]
    months = months_between(drop.month, first)
    assert months <= TARGET_MONTHS[area], (
        f"{drop.provider} (area {area}): first signal {first:%Y-%m}, {months} months after the drop "
        f"in {drop.month:%Y-%m} (target {TARGET_MONTHS[area]})"
    )


def test_the_soft_model_reacts_no_later_than_the_charts_first_signal_after_the_drop(
    city_chart: CityChart, city_soft_decisions: pd.DataFrame
) -> None:
    """A signal moves GREEN to YELLOW whatever the funnel says short of an escalation (on seed 1
    P05's first signal after its drop comes in a month the funnel is below its warning limit for
    the first time), so the first month at or after the drop in which the soft model is not
    GREEN is at the latest the chart's first signal."""
    late = []
    for drop in city_chart.drops:
        rows = own_chart(city_chart, drop)
        signals = rows.loc[(rows["as_of_month"] >= drop.month) & rows["signal"], "as_of_month"]
        assert not signals.empty, f"{drop.provider}: no signal after its drop in {drop.month:%Y-%m}"
        d = city_soft_decisions
        own = d[(d["provider_id"] == drop.provider) & (d["tender_area"] == drop.area)]
        flagged = own.loc[(own["month"] >= drop.month) & (own["state"] != SoftState.GREEN.value), "month"]
        first_signal = signals.iloc[0]
        first_reaction = min(flagged) if len(flagged) else None
        if first_reaction is None or first_reaction > first_signal:
            late.append(
                f"{drop.provider}: first signal {first_signal:%Y-%m}, first reaction {first_reaction}"
            )
    assert not late, "\n".join(late)


def test_before_the_drop_the_chart_is_in_control(city_chart: CityChart) -> None:
    """Signals before the drop are false signals of an in-control provider: at most the 99 %
    quantile of their Poisson count at the target rate (one per cusum_arl_months months)."""
    too_many = []
    for drop in city_chart.drops:
        rows = own_chart(city_chart, drop)
        before = rows[rows["as_of_month"] < drop.month]
        allowed = poisson.ppf(IN_CONTROL_QUANTILE, len(before) / city_chart.arl_months)
        signals = int(before["signals"].sum())
        if signals > allowed:
            too_many.append(f"{drop.provider}: {signals} signals in {len(before)} months before the drop")
    assert not too_many, "\n".join(too_many)
