"""The report's tables, charts and workbook on a tiny hand-made set of marts (real Parquet files
read through DuckDB), where provider P3 has 3 referrals. Expected numbers are computed here
with plain pandas from the referral rows, never taken from the code under test."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from scipy.stats import norm

from pipeline import danish
from pipeline.decisions.rules import Model, load_rules
from pipeline.reports import present
from pipeline.reports.config import load_config
from pipeline.reports.data import load_report_data
from pipeline.reports.excel import write_scorecard
from pipeline.reports.pages import successes_needed
from pipeline.reports.views import AreaView

MONTH = dt.date(2024, 6, 1)
AS_OF = dt.date(2024, 6, 30)
NAMES = {"P1": "Alfa Job ApS", "P2": "Beta Trivsel A/S", "P3": "Gamma Mini I/S"}
SIZES = {"P1": 60, "P2": 45, "P3": 3}


def _outcomes(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for pid, count in SIZES.items():
        for i in range(count):
            start = dt.date(2023, 1, 1) + dt.timedelta(days=int(rng.integers(0, 500)))
            end = start + dt.timedelta(days=int(rng.integers(30, 200)))
            if pid == "P3":  # its 3 referrals all closed within the base of June 2024
                start, end = dt.date(2023, 11, 1 + i), dt.date(2024, 2, 1 + i)
            end = end if end <= AS_OF else None
            closed = end is not None and end + dt.timedelta(days=30) <= AS_OF
            window = start + dt.timedelta(days=180)
            rows.append(
                {
                    "referral_id": f"{pid}-{i}",
                    "person_key": f"{rng.integers(0, 2**63):064x}",
                    "provider_id": pid,
                    "tender_area": 1,
                    "start_date": start,
                    "end_date": end,
                    "is_closed": closed,
                    "has_result": bool(rng.random() < (0.5 if pid == "P1" else 0.2)),
                    "result_window_end": end + dt.timedelta(days=30) if end else None,
                    "paid_hours_progression": float(rng.normal(2, 15)) if window <= AS_OF else None,
                    "paid_hours_window_end": window,
                    "rehab_grant_within_12m": bool(rng.random() < 0.2),
                    "rehab_grant_type": "flex_job",
                    "rehab_window_end": start + dt.timedelta(days=365),
                }
            )
    return pd.DataFrame(rows)


def _has_result_rows(outcomes: pd.DataFrame, month: dt.date) -> pd.DataFrame:
    """mart_provider_results rows of has_result for one as-of month, the metrics.md way."""
    end = pd.Timestamp(month) + pd.offsets.MonthEnd(0)
    start = end - pd.DateOffset(months=12)
    window = pd.to_datetime(outcomes["result_window_end"])
    base = outcomes[outcomes["is_closed"] & (window > start) & (window <= end)]
    per = base.groupby("provider_id")["has_result"].agg(["size", "sum"]).reindex(list(SIZES), fill_value=0)
    area_n, area_s = per["size"].sum(), per["sum"].sum()
    rows = []
    for pid, (n, s) in per.iterrows():
        excl_n, excl_s = area_n - n, area_s - s
        rows.append(
            {
                "as_of_month": pd.Timestamp(month),
                "as_of_date": end,
                "provider_id": pid,
                "provider_name": NAMES[pid],
                "tender_area": 1,
                "measure": "has_result",
                "measure_kind": "binary",
                "n": int(n),
                "successes": float(s),
                "rate": s / n if n else math.nan,
                "rate_low": max(s / n - 0.1, 0) if n else math.nan,
                "rate_high": min(s / n + 0.1, 1) if n else math.nan,
                "below_min_n": n < 20,
                "area_n": int(area_n),
                "area_successes": float(area_s),
                "area_rate": area_s / area_n,
                "area_n_excl_provider": int(excl_n),
                "area_successes_excl_provider": float(excl_s),
                "area_rate_excl_provider": excl_s / excl_n if excl_n else math.nan,
                "value_mean": math.nan,
                "value_median": math.nan,
                "area_value_mean": math.nan,
                "risk_adjusted_rate": math.nan,
                "adjustment_status": None,
            }
        )
    return pd.DataFrame(rows)


BANDS = [("Fald", -1.0), ("Uændret", 1.0), ("Mere", None)]
PARAMETERS = {
    "min_n": "20",
    "rolling_months": "12",
    "funnel_warning_level": "0.95",
    "funnel_alarm_level": "0.998",
    "funnel_limits": "exact",
    "comparison_interval_level": "0.95",
    "as_of": AS_OF.isoformat(),
}


def write_parameters(folder: Path, **changes: str) -> None:
    """dim_parameters as the build writes it, with `changes` to the defaults above."""
    values = {**PARAMETERS, **changes}
    pd.DataFrame(
        {"parameter": list(values), "value": list(values.values()), "description": [""] * len(values)}
    ).to_parquet(folder / "dim_parameters.parquet")


def _report_marts(outcomes: pd.DataFrame, folder: Path, months: list[dt.date]) -> None:
    """mart_referral_flow, mart_progression_bands and mart_rehab_grant_types as plain pandas
    counts of the referral rows (metrics.md), for the months given."""
    start, stop = pd.to_datetime(outcomes["start_date"]), pd.to_datetime(outcomes["end_date"])
    flow, bands, grants = [], [], []
    for month in months:
        first, end = pd.Timestamp(month), pd.Timestamp(month) + pd.offsets.MonthEnd(0)
        base_start = end - pd.DateOffset(months=12)
        for pid in SIZES:
            mine = outcomes["provider_id"] == pid
            flow.append(
                {
                    "as_of_month": first,
                    "provider_id": pid,
                    "tender_area": 1,
                    "started": int((mine & (start >= first) & (start <= end)).sum()),
                    "ended": int((mine & (stop >= first) & (stop <= end)).sum()),
                    "ongoing": int((mine & (start <= end) & (stop.isna() | (stop > end))).sum()),
                    "ended_base": int((mine & (stop <= end) & (stop > base_start)).sum()),
                }
            )
            window = pd.to_datetime(outcomes["paid_hours_window_end"])
            values = outcomes.loc[
                mine & outcomes["paid_hours_progression"].notna() & (window <= end) & (window > base_start),
                "paid_hours_progression",
            ]
            edges = np.array([below for _, below in BANDS[:-1]])
            index = np.searchsorted(edges, values.to_numpy(), side="right")
            for i, (label, below) in enumerate(BANDS):
                bands.append(
                    {
                        "as_of_month": first,
                        "provider_id": pid,
                        "tender_area": 1,
                        "measure": "paid_hours_progression",
                        "band": i,
                        "band_label": label,
                        "band_below": below,
                        "referrals": int((index == i).sum()),
                    }
                )
            rehab = pd.to_datetime(outcomes["rehab_window_end"])
            granted = mine & outcomes["rehab_grant_within_12m"] & (rehab <= end) & (rehab > base_start)
            for grant, count in outcomes[granted].groupby("rehab_grant_type").size().items():
                grants.append(
                    {
                        "as_of_month": first,
                        "provider_id": pid,
                        "tender_area": 1,
                        "rehab_grant_type": grant,
                        "referrals": int(count),
                    }
                )
    pd.DataFrame(flow).to_parquet(folder / "mart_referral_flow.parquet")
    pd.DataFrame(bands).to_parquet(folder / "mart_progression_bands.parquet")
    pd.DataFrame(
        grants, columns=["as_of_month", "provider_id", "tender_area", "rehab_grant_type", "referrals"]
    ).to_parquet(folder / "mart_rehab_grant_types.parquet")


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("marts")
    outcomes = _outcomes()
    outcomes.to_parquet(folder / "fct_referral_outcomes.parquet")  # exported, read by no report
    _report_marts(
        outcomes,
        folder,
        [dt.date(y, m, 1) for y in (2023, 2024) for m in range(1, 13) if dt.date(y, m, 1) <= MONTH],
    )
    write_parameters(folder)
    months = [dt.date(2024, m, 1) for m in range(1, 7)]
    pd.concat([_has_result_rows(outcomes, m) for m in months]).to_parquet(
        folder / "mart_provider_results.parquet"
    )
    pd.DataFrame(
        {"sort_order": [1], "measure": ["has_result"], "measure_kind": ["binary"], "label_da": ["Resultat"]}
    ).to_parquet(folder / "dim_measures.parquet")
    pd.DataFrame({"provider_id": list(NAMES), "provider_name": list(NAMES.values())}).to_parquet(
        folder / "dim_providers.parquet"
    )
    decisions = pd.DataFrame(
        [
            {
                "month": m,
                "provider_id": pid,
                "tender_area": 1,
                "model": model,
                "state": state,
                "proposed_state": state,
                "state_label": label,
                "share": 1.0,
                "n": SIZES[pid],
                "successes": 2 if pid == "P3" else 10,
                "reason": f"Begrundelse med n = {SIZES[pid]}.",
            }
            for m in months
            for pid in NAMES
            for model, state, label in (("soft", "GREEN", "Normal"), ("hard", "OPEN", "Åben"))
        ]
    )
    decisions.to_parquet(folder / "mart_booking_decisions.parquet")
    return folder


@pytest.fixture(scope="module")
def view(marts: Path) -> AreaView:
    config = load_config()
    data = load_report_data(marts, "2024-06", config)
    return AreaView(data, 1, config, load_rules(), data.provider_names())


def test_the_newest_month_is_the_default(marts: Path) -> None:
    assert load_report_data(marts, None, load_config()).month == MONTH


def test_overview_counts_match_an_independent_count(view: AreaView) -> None:
    expected = _has_result_rows(_outcomes(), MONTH).set_index("provider_id")
    table = view.overview().set_index("Leverandør")
    for pid, name in NAMES.items():
        n = int(expected.loc[pid, "n"])
        shown = table.loc[name, "Forløb i grundlaget"]
        assert shown == ("<5" if 0 < n < 5 else danish.format_int(n)), pid


def test_the_three_referral_provider_shows_no_rate(view: AreaView) -> None:
    row = view.overview().set_index("Leverandør").loc["Gamma Mini I/S"]
    assert row["Forløb i grundlaget"] == "<5"
    assert row["Resultat"] == "–"
    decisions = view.decisions_table(Model.SOFT).set_index("Leverandør")
    assert not re.search(r"n = 3(?!\d)", decisions.loc["Gamma Mini I/S", "Begrundelse"])
    assert "n = 60" in decisions.loc["Alfa Job ApS", "Begrundelse"]


def test_the_built_month_is_the_default_not_the_newest_in_the_marts(marts: Path, tmp_path: Path) -> None:
    # a build for as_of in May whose marts (as in a run with --as-of) also hold June
    folder = tmp_path / "m"
    shutil.copytree(marts, folder)
    write_parameters(folder, as_of="2024-05-31")
    assert load_report_data(folder, None, load_config()).month == dt.date(2024, 5, 1)


def test_the_texts_state_the_builds_levels_and_rolling_months(marts: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(marts, folder)
    write_parameters(folder, funnel_warning_level="0.9", funnel_alarm_level="0.99", rolling_months="6")
    config = load_config()
    data = load_report_data(folder, "2024-06", config)
    view = AreaView(data, 1, config, load_rules(), data.provider_names())
    assert view.funnel_note().endswith("Grænserne er 90 % og 99 %.")
    names = {trace.name for trace in view.funnel().data}
    assert {"90 %-grænse", "99 %-grænse"} <= names
    assert "Afsluttet i de seneste 6 måneder" in {trace.name for trace in view.flow().data}


def test_charts_speak_danish(view: AreaView) -> None:
    trend = view.trend()
    assert trend.layout.separators == ",."
    assert "juni 2024" in trend.layout.xaxis.ticktext
    assert all(re.fullmatch(r"[a-zæøå]+ \d{4}", t) for t in trend.layout.xaxis.ticktext)
    hover = " ".join(t for trace in trend.data for t in (trace.text or ()))
    assert re.search(r"\d+,\d %", hover)  # decimal comma and a space before the percent sign
    assert "Gamma Mini I/S: ikke vist (n = <5)" in hover


def test_funnel_points_are_the_shown_rates(view: AreaView) -> None:
    fig = view.funnel()
    rows = _has_result_rows(_outcomes(), MONTH).set_index("provider_id")
    points = {t.name: (t.x[0], t.y[0]) for t in fig.data if t.mode == "markers"}
    assert "Gamma Mini I/S" not in points  # blanked, not drawn
    for pid in ("P1", "P2"):
        n, rate = rows.loc[pid, "n"], rows.loc[pid, "rate"]
        if rows.loc[pid, "successes"] >= 5:
            assert points[NAMES[pid]] == pytest.approx((n, rate * 100))


def test_an_empty_section_still_renders(view: AreaView) -> None:
    for fig in (view.sustainability(), view.fit(), view.cost(), view.progression(), view.states()):
        assert "plotly-graph-div" in present.figure(fig).data


def test_workbook_has_a_sheet_per_area_and_suppresses(view: AreaView, tmp_path: Path) -> None:
    path = write_scorecard(view.data, view.rules, view.config, tmp_path / "scorecard.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Område 1 Udsatte ledige", "Beslutninger"]
    sheet = book["Område 1 Udsatte ledige"]
    header = [c.value for c in sheet[4]]
    rows = {r[1]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=5, values_only=True)}
    expected = _has_result_rows(_outcomes(), MONTH).set_index("provider_id")
    gamma = rows["Gamma Mini I/S"]
    assert gamma["Forløb i grundlaget"] is None and gamma["Andel"] is None
    assert gamma["Skjult (under 5)"] == "forløb <5"
    alfa = rows["Alfa Job ApS"]
    assert alfa["Forløb i grundlaget"] == expected.loc["P1", "n"]
    assert alfa["Andel"] == pytest.approx(expected.loc["P1", "rate"], abs=1e-6)
    reasons = [r[6] for r in book["Beslutninger"].iter_rows(min_row=5, values_only=True)]
    assert not any(re.search(r"n = 3(?!\d)", r or "") for r in reasons)


@pytest.mark.parametrize(
    ("n", "successes", "p"), [(40, 3, 0.3), (100, 20, 0.35), (25, 10, 0.2), (60, 0, 0.1)]
)
def test_successes_needed_is_the_smallest_count_within_the_limit(n: int, successes: int, p: float) -> None:
    """Brute force over every count: the first that is not below the 95 % funnel limit."""
    first_ok = next(s for s in range(n + 1) if (s - n * p) / math.sqrt(n * p * (1 - p)) >= norm.ppf(0.025))
    assert successes_needed(n, successes, p, 0.95) == max(0, first_ok - successes)


def test_quality_snapshot_without_a_warehouse_says_so(tmp_path: Path) -> None:
    from pipeline.reports import quality

    snap = quality.snapshot(tmp_path / "none.duckdb")
    assert snap["available"] is False and "warehouse" in snap["note"]
    assert json.loads(json.dumps(snap)) == snap


def test_without_decisions_the_sections_say_what_to_run(marts: Path, tmp_path: Path) -> None:
    from pipeline.reports.pages import next_step_hard, next_step_soft

    bare = tmp_path / "marts"
    bare.mkdir()
    for path in marts.glob("*.parquet"):
        if path.name != "mart_booking_decisions.parquet":
            (bare / path.name).write_bytes(path.read_bytes())
    config = load_config()
    data = load_report_data(bare, None, config)
    view = AreaView(data, 1, config, load_rules(), data.provider_names())
    assert set(view.overview()["Forslag, blid overgang"]) == {"–"}
    assert view.decisions_table(Model.SOFT).empty and view.allocation().empty
    assert "provmon decide" in view.allocation_note()
    assert "ingen vurdering" in next_step_soft(view, "P1") and "ingen vurdering" in next_step_hard(view, "P1")
    assert "plotly-graph-div" in present.figure(view.states()).data


def test_the_dashboards_model_a_line_labels_its_threshold_an_assumption(marts: Path, tmp_path: Path) -> None:
    """Issue 17: a provider's dashboard shows model A's state and what lifts or keeps it; the
    threshold it names (stop_ratio of rules.yaml) is an assumption the administration sets,
    said in the open state and in a stop alike."""
    from pipeline.reports.pages import next_step_hard

    ratio = f"{load_rules().area(1).hard.stop_ratio * 100:.0f} %"
    stopped = tmp_path / "marts"
    shutil.copytree(marts, stopped)
    decisions = pd.read_parquet(stopped / "mart_booking_decisions.parquet")
    hard = decisions["model"] == "hard"
    decisions.loc[hard, ["state", "state_label"]] = ["STOP", "Bookingstop"]
    decisions.to_parquet(stopped / "mart_booking_decisions.parquet")
    config = load_config()
    for folder, state in ((marts, "OPEN"), (stopped, "STOP")):
        data = load_report_data(folder, "2024-06", config)
        view = AreaView(data, 1, config, load_rules(), data.provider_names())
        for pid in NAMES:
            text = next_step_hard(view, pid)
            assert "antaget tærskel, sat af forvaltningen" in text, (state, pid)
            assert ("stoppet ophæves" in text) == (state == "STOP"), (state, pid)
            if state == "OPEN":
                assert f"mindst {ratio} af områdets andel" in text, pid
