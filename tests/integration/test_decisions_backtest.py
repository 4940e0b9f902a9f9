"""`provmon backtest` on the small synthetic warehouse: the table and chart, the scores against
the generator's ground truth (recomputed here from ground_truth.json with plain pandas), and the
as-of discipline: data dated after a month, changed, leaves that month's decisions unchanged."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline.build import build
from pipeline.decisions.backtest_report import GroundTruthError
from pipeline.decisions.errors import DecisionInputError
from pipeline.decisions.service import BacktestSummary, decide, run_backtest
from pipeline.errors import ProvmonError
from pipeline.settings import GROUND_TRUTH_FILE, Settings
from tests.fixtures.allocation_reference import water_level_amounts
from tests.integration.test_decisions_service import agreement_months

pytestmark = pytest.mark.integration

KEY = ["month", "provider_id", "tender_area", "model"]
NORMAL = {"soft": "GREEN", "hard": "OPEN"}
DANISH_MONTHS = (
    "januar", "februar", "marts", "april", "maj", "juni",
    "juli", "august", "september", "oktober", "november", "december",
)  # fmt: skip


def query(settings: Settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql).df()


def execute(settings: Settings, *statements: str) -> None:
    with duckdb.connect(str(settings.warehouse)) as con:
        for sql in statements:
            con.execute(sql)


def month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Python objects with None for missing: equal rows compare equal whatever the dtypes."""
    frame = frame.sort_values(KEY).reset_index(drop=True)
    return frame.astype(object).where(frame.notna(), None)


def complete_months(settings: Settings) -> tuple[date, date]:
    """First and last month the build evaluated at the month's last day (SQL, not the service)."""
    first, last = query(
        settings,
        "SELECT min(as_of_month), max(as_of_month) FROM main.mart_provider_results "
        "WHERE as_of_date = last_day(as_of_month)",
    ).iloc[0]
    return pd.Timestamp(first).date(), pd.Timestamp(last).date()


@dataclass(frozen=True)
class Replayed:
    settings: Settings
    summary: BacktestSummary
    first: date
    last: date


@pytest.fixture(scope="module")
def replayed(warehouse_copy: Callable[[str], Settings]) -> Replayed:
    settings = warehouse_copy("backtest")
    first, last = complete_months(settings)
    return Replayed(settings, run_backtest(settings, first, last), first, last)


def test_table_and_chart_are_written(replayed: Replayed) -> None:
    folder = replayed.settings.out_dir / "backtest"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["backtest.csv", "backtest.html", "backtest.md", "backtest_providers.csv"]
    html = (folder / "backtest.html").read_text(encoding="utf-8")
    assert "<script src=" not in html  # plotly.js inlined: the chart opens offline
    for title in ("Leverandører pr. tilstand", "Tilstandsskift pr. måned", "Henvisninger flyttet"):
        assert title in html or json.dumps(title)[1:-1] in html  # plotly escapes æøå in its JSON
    assert f'"{DANISH_MONTHS[replayed.first.month - 1]} {replayed.first.year}"' in html
    markdown = (folder / "backtest.md").read_text(encoding="utf-8")
    assert markdown.startswith("| Mål | Blid overgang | Bookingstop (i dag) |")
    csv = pd.read_csv(folder / "backtest.csv")
    assert list(csv.columns) == ["metric", "label", "soft", "hard"]
    assert str(replayed.summary).startswith(f"backtest {replayed.first:%Y-%m}..{replayed.last:%Y-%m}")


def test_provider_months_and_state_counts(replayed: Replayed) -> None:
    """Provider-months = provider-areas with an agreement valid in the month (from the landing
    agreements, in pandas)."""
    months = pd.Series([d.date() for d in pd.date_range(replayed.first, replayed.last, freq="MS")])
    expected = len(agreement_months(replayed.settings, months))
    table = pd.read_csv(replayed.settings.out_dir / "backtest" / "backtest.csv").set_index("metric")
    for model, states in (("soft", ["GREEN", "YELLOW", "ORANGE", "RED"]), ("hard", ["OPEN", "STOP"])):
        assert table.loc["provider_months", model] == expected
        assert sum(table.loc[f"state:{s}", model] for s in states) == expected
        assert table.loc["months", model] == month_index(replayed.last) - month_index(replayed.first) + 1


def test_state_changes_are_counted_from_consecutive_states(replayed: Replayed) -> None:
    d = replayed.summary.decisions.sort_values(KEY)
    table = replayed.summary.report.table.set_index("metric")
    for model in ("soft", "hard"):
        mine = d[d["model"] == model]
        changes = 0
        for _, own in mine.groupby(["provider_id", "tender_area"]):
            states = own["state"].tolist()
            changes += sum(a != b for a, b in itertools.pairwise(states))
        assert table.loc["state_changes", model] == changes


def test_backtest_replays_what_decide_proposes_and_moves_what_the_allocation_moves(
    replayed: Replayed, warehouse_copy: Callable[[str], Settings]
) -> None:
    """Without overrides the back-test's decisions are decide's; referrals moved per month and
    area = what the model's allocation takes from providers against everyone at full share,
    recomputed from the capacity and volume decide stored in mart_booking_allocation."""
    settings = warehouse_copy("decide_vs_backtest")
    decide(settings, replayed.last)
    stored = query(settings, "SELECT * FROM main.mart_booking_decisions")
    stored = stored.assign(
        month=pd.to_datetime(stored["month"]).dt.date,
        stop_month=[None if pd.isna(m) else pd.Timestamp(m).date() for m in stored["stop_month"]],
        state_since=[None if pd.isna(m) else pd.Timestamp(m).date() for m in stored["state_since"]],
    )
    columns = list(replayed.summary.decisions.columns)
    pd.testing.assert_frame_equal(plain(stored[columns]), plain(replayed.summary.decisions[columns]))
    alloc = query(settings, "SELECT * FROM main.mart_booking_allocation")
    alloc = alloc.assign(month=pd.to_datetime(alloc["month"]).dt.date)
    moved = replayed.summary.result.moved.set_index(["month", "model", "tender_area"])["referrals_moved"]
    for (month, model, area), rows in alloc.groupby(["month", "model", "tender_area"]):
        cap, volume = rows["capacity_per_month"].tolist(), rows["area_expected_volume"].iloc[0]
        weighted = (rows["state_share"] * rows["capacity_per_month"]).tolist()
        with_model = water_level_amounts(weighted, cap, volume)  # capped by capacity
        everyone = water_level_amounts(cap, cap, volume)
        gap = [max(0.0, e - w) for e, w in zip(everyone, with_model, strict=True)]
        assert moved[(month, model, area)] == pytest.approx(sum(gap), abs=1e-6)


# --- ground truth ---------------------------------------------------------------------------------


def truly_worse(provider: dict, measure: str, month: date) -> bool:
    """From ground_truth.json as the generator writes it: a negative true effect on the measure,
    before or from the drop month."""
    if provider["effects"][measure] < 0:
        return True
    drop = provider.get("drop_month")
    if drop and month >= date.fromisoformat(f"{drop}-01"):
        return provider["effects_from_drop_month"][measure] < 0
    return False


def test_false_reductions_and_reaction_delay_against_the_ground_truth(replayed: Replayed) -> None:
    truth = json.loads((replayed.settings.raw_dir / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
    providers = truth["providers"]
    d = replayed.summary.decisions
    keys = zip(d["provider_id"], d["measure"], d["month"], strict=True)
    worse = [truly_worse(providers[p], measure, month) for p, measure, month in keys]
    d = d.assign(worse=worse)
    report = replayed.summary.report
    for model in ("soft", "hard"):
        fine = d[(d["model"] == model) & ~d["worse"]]
        false = fine[fine["share"] < 1]
        assert report.value("truly_ok_provider_months", model) == len(fine)  # type: ignore[arg-type]
        assert report.value("false_reductions", model) == len(false)  # type: ignore[arg-type]
        assert report.value("false_flags", model) == (fine["state"] != NORMAL[model]).sum()  # type: ignore[arg-type]
        falsely = false[["provider_id", "tender_area"]].drop_duplicates()
        assert report.value("providers_falsely_reduced", model) == len(falsely)  # type: ignore[arg-type]
    # the provider whose results dropped: months from the drop (or from when it could first be
    # judged) to the first reduction or stop
    dropping = [p for p, v in providers.items() if v["role"] == "drops"]
    assert dropping
    for model in ("soft", "hard"):
        for provider in dropping:
            own = d[(d["model"] == model) & (d["provider_id"] == provider) & d["worse"]].sort_values("month")
            judged = own[own["evidence"] != "insufficient"]
            if judged.empty:
                continue
            start = judged["month"].iloc[0]
            reduced = own[(own["month"] >= start) & (own["share"] < 1)]
            area = int(own["tender_area"].iloc[0])
            value = report.value(f"reduction_months:{provider}:{area}", model)  # type: ignore[arg-type]
            if reduced.empty:
                assert value is None
            else:
                assert value == month_index(reduced["month"].iloc[0]) - month_index(start)


def test_months_from_every_planted_drop_against_the_ground_truth(replayed: Replayed) -> None:
    """Every provider planted with a drop in the period has a row per model: months from the
    drop month to the first non-normal state and the first share below 1 (pandas, here)."""
    truth = json.loads((replayed.settings.raw_dir / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
    d = replayed.summary.decisions
    report = replayed.summary.report
    checked = 0
    for provider, p in truth["providers"].items():
        drop = date.fromisoformat(f"{p['drop_month']}-01") if p.get("drop_month") else None
        if p["role"] != "drops" or drop is None or not replayed.first <= drop <= replayed.last:
            continue
        for model in ("soft", "hard"):
            own = d[(d["model"] == model) & (d["provider_id"] == provider) & (d["month"] >= drop)]
            for area, rows in own.groupby("tender_area"):
                rows = rows.sort_values("month")
                for kind, hit in (
                    ("reaction", rows["state"] != NORMAL[model]),
                    ("reduction", rows["share"] < 1),
                ):
                    value = report.value(f"drop_{kind}_months:{provider}:{area}", model)  # type: ignore[arg-type]
                    first = rows.loc[hit, "month"]
                    assert value == (month_index(first.iloc[0]) - month_index(drop) if len(first) else None)
                checked += 1
    assert checked, "the small data plant no drop in the period: not as assumed"


def test_without_a_ground_truth_there_are_no_truth_rows(replayed: Replayed, tmp_path: Path) -> None:
    settings = dataclasses.replace(replayed.settings, raw_dir=tmp_path / "raw", out_dir=tmp_path / "out")
    summary = run_backtest(settings, replayed.first, replayed.last)
    assert summary.report.providers is None
    assert "false_reductions" not in set(summary.report.table["metric"])
    assert not (settings.out_dir / "backtest" / "backtest_providers.csv").exists()


def test_the_default_period_is_every_complete_month(replayed: Replayed) -> None:
    summary = run_backtest(replayed.settings)
    assert (summary.from_month, summary.to_month) == (replayed.first, replayed.last)
    pd.testing.assert_frame_equal(plain(summary.decisions), plain(replayed.summary.decisions))


def test_bad_periods_and_ground_truth_files_are_refused(replayed: Replayed, tmp_path: Path) -> None:
    s = replayed.settings
    with pytest.raises(ProvmonError, match="before --from"):
        run_backtest(s, replayed.last, replayed.first)
    with pytest.raises(DecisionInputError, match="provmon build --as-of"):
        run_backtest(s, replayed.first, date(replayed.last.year + 1, 1, 1))
    with pytest.raises(GroundTruthError, match="no ground-truth file"):
        run_backtest(s, replayed.first, replayed.last, ground_truth=tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"providers": {"P01": {"role": "sideways"}}}', encoding="utf-8")
    with pytest.raises(GroundTruthError, match=r"P01\.role"):
        run_backtest(s, replayed.first, replayed.last, ground_truth=broken)


def test_the_backtest_writes_no_decisions(replayed: Replayed) -> None:
    for table in ("booking_decisions", "booking_allocation"):
        assert query(replayed.settings, f"SELECT count(*) AS n FROM decisions.{table}")["n"].iloc[0] == 0
    runs = query(replayed.settings, "SELECT verb, status FROM meta.runs WHERE verb = 'backtest'")
    assert "ok" in set(runs["status"])


# --- as-of discipline ---------------------------------------------------------------------------


CUT = date(2024, 3, 1)  # the last month whose decisions must not change
CUT_END = "DATE '2024-03-31'"


def later_data_changed(settings: Settings, provider: str) -> None:
    """Change, in the one relation the decisions read (fct_decision_inputs), only what is dated
    after CUT: the provider's later results collapse (an alarm of the statistics step), later lift
    cohorts empty, half the later booking volume vanishes and later capacities triple. The public
    marts are views of the published build's tables, so the table is changed. (Through dbt, the
    same discipline is checked by the rebuild test below.)"""
    built = query(settings, "SELECT build_schema FROM meta.published_build")["build_schema"].iloc[0]
    later = f"as_of_month > DATE '{CUT}'"
    execute(
        settings,
        f"UPDATE {built}.fct_decision_inputs SET successes = 0, rate = 0, rate_low = 0, rate_high = 0.05, "
        f"z_score = -5, evidence = 'alarm' WHERE provider_id = '{provider}' AND {later} AND NOT below_min_n",
        f"UPDATE {built}.fct_decision_inputs SET lift_cohorts = [] WHERE {later}",
        f"UPDATE {built}.fct_decision_inputs SET area_booking_volume = area_booking_volume / 2, "
        f"capacity_per_month = capacity_per_month * 3 WHERE {later}",
    )


def test_data_dated_after_a_month_does_not_change_its_decisions(
    replayed: Replayed, warehouse_copy: Callable[[str], Settings]
) -> None:
    changed = warehouse_copy("later_data_changed")
    provider = "P01"
    later_data_changed(changed, provider)
    after = run_backtest(changed, replayed.first, replayed.last)
    before = replayed.summary
    up_to = before.decisions["month"] <= CUT
    assert (after.decisions["month"] <= CUT).sum() == up_to.sum()
    pd.testing.assert_frame_equal(
        plain(after.decisions[after.decisions["month"] <= CUT]), plain(before.decisions[up_to])
    )
    moved_before, moved_after = before.result.moved, after.result.moved
    pd.testing.assert_frame_equal(
        moved_after[moved_after["month"] <= CUT].reset_index(drop=True),
        moved_before[moved_before["month"] <= CUT].reset_index(drop=True),
    )
    # the change is real: later months differ, and the provider is stopped under Model A
    later = after.decisions[(after.decisions["month"] > CUT) & (after.decisions["provider_id"] == provider)]
    assert "STOP" in set(later.loc[later["model"] == "hard", "state"])
    assert not moved_after[moved_after["month"] > CUT].equals(moved_before[moved_before["month"] > CUT])


def test_a_rebuild_with_later_data_changed_keeps_earlier_decisions(
    replayed: Replayed, warehouse_copy: Callable[[str], Settings]
) -> None:
    """End to end through dbt: registered results and end dates after CUT are removed from the
    landing data and the warehouse rebuilt; decisions up to CUT stay the same."""
    changed = warehouse_copy("rebuilt")
    execute(
        changed,
        f"DELETE FROM landing.referral_results WHERE result_date > {CUT_END}",
        f"UPDATE landing.referrals SET end_date = NULL, end_reason = NULL WHERE end_date > {CUT_END}",
    )
    shutil.rmtree(changed.marts_dir, ignore_errors=True)
    build(changed)
    after = run_backtest(changed, replayed.first, replayed.last)
    before = replayed.summary.decisions
    pd.testing.assert_frame_equal(
        plain(after.decisions[after.decisions["month"] <= CUT]), plain(before[before["month"] <= CUT])
    )
    later = after.decisions["month"] > CUT
    assert not plain(after.decisions[later]).equals(plain(before[before["month"] > CUT]))
