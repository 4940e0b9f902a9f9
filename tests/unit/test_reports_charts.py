"""The charts' data and layout: area marks on their own bars, one colour per provider in every
document of a month, short axis titles, no point labels in the funnel. (Whether they also look
right in a browser is tests/browser/.) Expected positions and colours are derived here from the
figure's own bars and the month's providers, never from the code's helpers."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from pipeline.decisions.rules import load_rules
from pipeline.reports import charts
from pipeline.reports.charts import PALETTE, rate_bars
from pipeline.reports.config import Disclosure, load_config
from pipeline.reports.data import load_report_data
from pipeline.reports.disclosure import provider_labels
from pipeline.reports.views import AreaView
from tests.unit.test_reports_views import marts  # noqa: F401  (the module's fixture)

RULE = Disclosure(min_count=5, suppress_zero=False)
MEASURES = ["sustained_3m", "sustained_6m", "sustained_12m"]
LABELS = {m: f"Fortsat i arbejde {m[9:-1]} mdr." for m in MEASURES}


def _sustainability_rows() -> pd.DataFrame:
    rows = []
    for i, measure in enumerate(MEASURES):
        area_rate = (0.55, 0.46, 0.39)[i]
        for j, pid in enumerate(("P1", "P2", "P3")):
            rate = 0.3 + 0.1 * j + 0.05 * i
            rows.append(
                {
                    "provider_id": pid,
                    "measure": measure,
                    "n": 40,
                    "rate": rate,
                    "rate_low": rate - 0.1,
                    "rate_high": rate + 0.1,
                    "area_rate": area_rate,
                }
            )
    return pd.DataFrame(rows)


def test_each_area_mark_sits_on_its_own_bar_and_is_named() -> None:
    names = {"P1": "Alfa", "P2": "Beta", "P3": "Gamma"}
    fig = rate_bars(_sustainability_rows(), MEASURES, LABELS, names, RULE, "Bæredygtighed")
    bars = [t for t in fig.data if t.type == "bar"]
    marks = [t for t in fig.data if t.type == "scatter"]
    assert len(bars) == len(marks) == 3
    for measure, bar, mark in zip(MEASURES, bars, marks, strict=True):
        assert bar.name == LABELS[measure]
        # the mark of this measure is at the x of this measure's bars, and at no other bar's x
        assert list(mark.x) == pytest.approx(list(bar.x))
        others = {round(x, 9) for b in bars if b is not bar for x in b.x}
        assert not others & {round(x, 9) for x in mark.x}
        assert LABELS[measure] in mark.name and mark.showlegend is not False
    assert len({m.name for m in marks}) == 3
    # the area's rate of each measure, not one rate repeated
    assert [m.y[0] for m in marks] == pytest.approx([55.0, 46.0, 39.0])


def test_a_bar_is_no_wider_than_its_share_of_the_group() -> None:
    fig = rate_bars(_sustainability_rows(), MEASURES, LABELS, {}, RULE, "t")
    bars = [t for t in fig.data if t.type == "bar"]
    centres = sorted(x for b in bars for x in b.x)
    width = bars[0].width
    assert all(b - a >= width - 1e-9 for a, b in itertools.pairwise(centres))


def test_colours_are_the_months_and_distinct_within_an_area() -> None:
    areas = {1: ["P01", "P02", "P03"], 3: ["P10", "P11"], 4: ["P10", "P12"]}
    colours = charts.provider_colours(areas)
    assert set(colours) == {"P01", "P02", "P03", "P10", "P11", "P12"}
    for providers in areas.values():
        assert len({colours[p] for p in providers}) == len(providers)
    assert set(colours.values()) <= set(PALETTE)
    assert charts.provider_colours(dict(reversed(list(areas.items())))) == colours


def _trend_colours(view: AreaView) -> dict[str, str]:
    """provider_id -> line colour of the trend chart (labels mapped back to ids)."""
    by_label = {label: pid for pid, label in view.labels.items()}
    return {by_label[t.name]: t.line.color for t in view.trend().data if t.name in by_label}


def test_a_provider_has_one_colour_in_the_area_report_and_every_dashboard(marts) -> None:  # noqa: F811
    config, rules = load_config(), load_rules()
    data = load_report_data(marts, "2024-06", config)
    names = data.provider_names()
    area = _trend_colours(AreaView(data, 1, config, rules, names))
    assert len(area) >= 2
    for reader in names:
        labels = provider_labels(names, reader, True, "Leverandør")
        dashboard = _trend_colours(AreaView(data, 1, config, rules, labels))
        assert dashboard == {p: area[p] for p in dashboard}, reader
        assert len(dashboard) == len(area)


def test_trend_axis_title_is_short_and_the_funnel_draws_no_point_labels(marts) -> None:  # noqa: F811
    config = load_config()
    data = load_report_data(marts, "2024-06", config)
    view = AreaView(data, 1, config, load_rules(), data.provider_names())
    trend = view.trend()
    # the measure is named in the title; a long label up the axis ran into it
    assert len(trend.layout.yaxis.title.text) <= 12
    funnel = view.funnel()
    assert not [t for t in funnel.data if "text" in (t.mode or "")]
    named = {t.name for t in funnel.data if t.mode == "markers"}
    assert "Alfa Job ApS" in named and funnel.layout.showlegend is not False
