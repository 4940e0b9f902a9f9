"""The early-warning chart in the reports (decisions.md "Early warning", issue 17 item 7): the
area report draws S over time per provider with the area's h, and a provider's dashboard only
its own line with h. The chart's numbers are compared with the fct_provider_cusum rows written
here, read back with pandas, never with the code's own helpers."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline import danish
from pipeline.decisions.rules import load_rules
from pipeline.reports.charts import CUSUM_H_NAME
from pipeline.reports.config import load_config
from pipeline.reports.data import load_report_data
from pipeline.reports.disclosure import provider_labels
from pipeline.reports.pages import DialoguePage
from pipeline.reports.views import CUSUM_MISSING, AreaView
from tests.unit.test_reports_views import MONTH, NAMES, marts  # noqa: F401  (the module's fixture)

FIRST = dt.date(2021, 1, 1)  # before the trend window: those months must not be drawn
SIGNALS = {("P1", dt.date(2024, 3, 1)), ("P2", dt.date(2023, 11, 1)), ("P2", dt.date(2022, 2, 1))}


def _months() -> list[dt.date]:
    out, m = [], FIRST
    while m <= MONTH:
        out.append(m)
        m = dt.date(m.year + m.month // 12, m.month % 12 + 1, 1)
    return out


def _cusum_rows() -> pd.DataFrame:
    """A hand-made chart: S rising and restarting, h changing month by month."""
    rows = []
    for i, month in enumerate(_months()):
        h = 3.0 + 0.01 * i
        for j, pid in enumerate(NAMES):
            signal = (pid, month) in SIGNALS
            rows.append(
                {
                    "as_of_month": pd.Timestamp(month),
                    "tender_area": 1,
                    "provider_id": pid,
                    "s": 0.0 if signal else round((0.37 * (i + 1) * (j + 1)) % h, 4),
                    "h": h,
                    "signal": signal,
                    "signals": int(signal),
                    "n_known": 4 + j,
                    "false_signal_rate": 1 / 75,
                    "monthly_volume": 6.0,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def cusum_marts(marts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    folder = tmp_path_factory.mktemp("cusum_marts")
    shutil.copytree(marts, folder, dirs_exist_ok=True)
    _cusum_rows().to_parquet(folder / "fct_provider_cusum.parquet")
    return folder


def _view(folder: Path, labels: dict[str, str] | None = None) -> AreaView:
    config = load_config()
    data = load_report_data(folder, f"{MONTH:%Y-%m}", config)
    return AreaView(data, 1, config, load_rules(), labels or data.provider_names())


def _shown(mart: pd.DataFrame) -> pd.DataFrame:
    """The mart's rows of the trend window (the report month and the months before it)."""
    first = pd.Timestamp(MONTH) - pd.DateOffset(months=load_config().months.trend - 1)
    return mart[(mart["as_of_month"] >= first) & (mart["as_of_month"] <= pd.Timestamp(MONTH))]


def test_the_area_chart_draws_every_providers_s_and_the_areas_h_from_the_mart(cusum_marts: Path) -> None:
    mart = _shown(pd.read_parquet(cusum_marts / "fct_provider_cusum.parquet"))
    fig = _view(cusum_marts).cusum()
    lines = {t.name: t for t in fig.data}
    assert set(lines) == {*NAMES.values(), CUSUM_H_NAME}
    for pid, name in NAMES.items():
        own = mart[mart["provider_id"] == pid].sort_values("as_of_month")
        trace = lines[name]
        assert list(pd.to_datetime(trace.x)) == list(own["as_of_month"])
        assert list(trace.y) == pytest.approx(own["s"].tolist())
        # a signal month is marked, and only those
        marked = [
            m
            for m, symbol in zip(own["as_of_month"], trace.marker.symbol, strict=True)
            if symbol == "diamond"
        ]
        assert marked == own.loc[own["signal"], "as_of_month"].tolist()
    h = mart.drop_duplicates("as_of_month").sort_values("as_of_month")
    assert list(pd.to_datetime(lines[CUSUM_H_NAME].x)) == list(h["as_of_month"])
    assert list(lines[CUSUM_H_NAME].y) == pytest.approx(h["h"].tolist())
    # a month before the trend window (P2's signal in February 2022) is not drawn
    assert min(pd.to_datetime(lines[NAMES["P2"]].x)) > pd.Timestamp(2022, 2, 1)


def test_a_dashboard_draws_only_the_providers_own_line_and_h(cusum_marts: Path) -> None:
    """Another provider's S would tell its results: the dashboard has none of them, not even
    anonymised."""
    labels = provider_labels(dict(NAMES), "P2", True, load_config().providers.alias_prefix)
    view = _view(cusum_marts, labels)
    page = DialoguePage("P2", NAMES["P2"], [view], named=False)
    fig = page.cusum(view)
    assert [t.name for t in fig.data] == [labels["P2"], CUSUM_H_NAME]
    mart = _shown(pd.read_parquet(cusum_marts / "fct_provider_cusum.parquet"))
    own = mart[mart["provider_id"] == "P2"].sort_values("as_of_month")
    assert list(fig.data[0].y) == pytest.approx(own["s"].tolist())
    shared = set(own["s"].round(4)) | set(mart["h"].round(4)) | {0.0}  # values P2's page has anyway
    others = set(mart.loc[mart["provider_id"] != "P2", "s"].round(4)) - shared
    assert others
    drawn = {round(v, 4) for t in fig.data for v in t.y}
    assert not drawn & others
    hover = " ".join(text for t in fig.data for text in t.text)
    assert all(labels[p] not in hover for p in ("P1", "P3"))


def test_the_area_table_states_s_h_and_the_last_signal(cusum_marts: Path) -> None:
    mart = pd.read_parquet(cusum_marts / "fct_provider_cusum.parquet")
    now = mart[mart["as_of_month"] == pd.Timestamp(MONTH)].set_index("provider_id")
    table = _view(cusum_marts).cusum_table().set_index("Leverandør")
    for pid, name in NAMES.items():
        assert table.loc[name, "S ved månedens udgang"] == danish.format_number(now.loc[pid, "s"], 2)
        assert table.loc[name, "Grænse h"] == danish.format_number(now.loc[pid, "h"], 2)
        assert table.loc[name, "Signal i måneden"] == "nej"
    assert table.loc[NAMES["P1"], "Seneste signal"] == "marts 2024"
    assert table.loc[NAMES["P2"], "Seneste signal"] == "november 2023"
    assert table.loc[NAMES["P3"], "Seneste signal"] == "intet"


def test_the_note_reports_h_and_the_simulated_false_signal_rate(cusum_marts: Path) -> None:
    note = _view(cusum_marts).cusum_note()
    h = 3.0 + 0.01 * (len(_months()) - 1)
    assert f"h = {danish.format_number(h, 2)}" in note
    assert "ét falsk signal pr. 75 måneder" in note
    assert "ændrer aldrig antallet af nye henvisninger" in note


def test_without_the_exported_chart_the_section_says_what_to_run(marts: Path) -> None:  # noqa: F811
    view = _view(marts)
    assert view.cusum_note() == CUSUM_MISSING
    assert view.cusum_table().empty
    assert [t.name for t in view.cusum().data] == [CUSUM_H_NAME]
