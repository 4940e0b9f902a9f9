"""The charts every report needs (outputs.md, "Charts every report needs"), as Plotly figures
with Danish labels, month names, decimal comma and "23,4 %".

Every function takes frames that disclosure control has already been applied to (disclosure.py)
and returns a figure; none reads a file. Plotly's own number formatting is English, so hover
texts are written here with pipeline.danish, rates are drawn in percent with a " %" suffix and
`separators=",."` makes the axis ticks Danish; month ticks are Danish month names."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from pipeline import danish
from pipeline.reports.config import Disclosure
from pipeline.reports.disclosure import count_text
from pipeline.stats import compare
from pipeline.stats.config import FunnelConfig, load_stats_config

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
AREA_COLOUR = "#222222"
HEIGHT = 420
# Above this many months, only every k-th month gets a tick label, so the labels stay readable.
MAX_MONTH_TICKS = 8
# Line styles of the funnel's warning and alarm limits (the levels are the build's).
FUNNEL_DASHES = ("dash", "dot")
# Points of n a drawn funnel is evaluated at.
FUNNEL_POINTS = 200


def colours(labels: Sequence[str]) -> dict[str, str]:
    """A colour per label, in the order given (for series that are not providers)."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def provider_colours(areas: Mapping[int, Sequence[str]]) -> dict[str, str]:
    """One colour per provider for every document of a month, keyed by provider_id.

    areas: tender area -> its providers in the month. Providers are taken in provider_id order
    and each gets the first palette colour no provider it shares an area with has yet, so a
    provider looks the same in the area report and in every dashboard, and two providers of
    one area never share a colour (while an area has at most len(PALETTE) providers)."""
    neighbours: dict[str, set[str]] = {}
    for providers in areas.values():
        for pid in providers:
            neighbours.setdefault(str(pid), set()).update(str(p) for p in providers if p != pid)
    out: dict[str, str] = {}
    for pid in sorted(neighbours):
        taken = {out[p] for p in neighbours[pid] if p in out}
        free = [c for c in PALETTE if c not in taken]
        out[pid] = free[0] if free else PALETTE[len(out) % len(PALETTE)]
    return out


def _colour_of(
    pid: object, label: str, colour_map: Mapping[str, str] | None, fallback: Mapping[str, str]
) -> str:
    """The provider's month colour when known, else the colour of its label in this chart."""
    if colour_map and str(pid) in colour_map:
        return colour_map[str(pid)]
    return fallback.get(label, PALETTE[0])


def danish_layout(fig: go.Figure, title: str, y_title: str = "", percent: bool = False) -> go.Figure:
    """Title, Danish separators and the look shared by every chart."""
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        separators=",.",
        template="plotly_white",
        height=HEIGHT,
        margin={"l": 60, "r": 20, "t": 60, "b": 60},
        legend={"orientation": "h", "y": -0.18},
        hoverlabel={"namelength": -1},
    )
    fig.update_yaxes(title_text=y_title, rangemode="tozero")
    if percent:
        fig.update_yaxes(ticksuffix=" %", tickformat=",.0f")
    return fig


def month_ticks(fig: go.Figure, months: Sequence[pd.Timestamp]) -> go.Figure:
    """Danish month names on a date x axis ("maj 2024"), at most MAX_MONTH_TICKS of them."""
    months = sorted(set(pd.to_datetime(list(months))))
    if not months:
        return fig
    step = max(1, math.ceil(len(months) / MAX_MONTH_TICKS))
    shown = months[::-1][::step][::-1]  # always label the newest month
    fig.update_xaxes(
        tickmode="array", tickvals=shown, ticktext=[danish.format_month(m) for m in shown], title_text=""
    )
    return fig


def percent(values: pd.Series) -> pd.Series:
    return values.astype(float) * 100


def rate_hover(label: str, rate: float | None, n: float | None, rule: Disclosure, low=None, high=None) -> str:
    """'Leverandør A: 23,4 % (95 %-interval 12,1–26,4 %), n = 80' or 'ikke vist' when blanked."""
    n_text = count_text(n, rule)
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return f"{label}: ikke vist (n = {n_text})"
    interval = ""
    if low is not None and high is not None and not (math.isnan(low) or math.isnan(high)):
        interval = f" (95 %-interval {danish.format_percent_range(low, high)})"
    return f"{label}: {danish.format_percent(rate)}{interval}, n = {n_text}"


def trend_chart(
    rows: pd.DataFrame,
    labels: Mapping[str, str],
    rule: Disclosure,
    title: str,
    y_title: str = "Andel",
    colour_map: Mapping[str, str] | None = None,
) -> go.Figure:
    """The measure's rate per provider over the months, with the area's rate as a black line.

    The y axis title stays short ("Andel"): the chart title names the measure, and a measure's
    long label drawn up the axis ran into the title above it.

    rows: protected mart_provider_results rows of one area and measure (columns as_of_month,
    provider_id, n, rate, rate_low, rate_high, area_rate, area_n)."""
    fig = go.Figure()
    palette = colours(list(labels.values()))
    for pid, part in rows.sort_values("as_of_month").groupby("provider_id", sort=True):
        label = labels.get(str(pid), str(pid))
        texts = [
            f"{danish.format_month(m)}<br>" + rate_hover(label, r, n, rule, lo, hi)
            for m, r, n, lo, hi in zip(
                part["as_of_month"], part["rate"], part["n"], part["rate_low"], part["rate_high"], strict=True
            )
        ]
        fig.add_trace(
            go.Scatter(
                x=part["as_of_month"],
                y=percent(part["rate"]),
                name=label,
                mode="lines+markers",
                line={"color": _colour_of(pid, label, colour_map, palette)},
                marker={"color": _colour_of(pid, label, colour_map, palette)},
                text=texts,
                hovertemplate="%{text}<extra></extra>",
                connectgaps=False,
            )
        )
    area = rows.drop_duplicates("as_of_month").sort_values("as_of_month")
    fig.add_trace(
        go.Scatter(
            x=area["as_of_month"],
            y=percent(area["area_rate"]),
            name="Området i alt",
            mode="lines",
            line={"color": AREA_COLOUR, "width": 3, "dash": "dash"},
            text=[
                f"{danish.format_month(m)}<br>" + rate_hover("Området i alt", r, n, rule)
                for m, r, n in zip(area["as_of_month"], area["area_rate"], area["area_n"], strict=True)
            ],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    danish_layout(fig, title, y_title, percent=True)
    return month_ticks(fig, rows["as_of_month"])


def funnel_curves(rows: pd.DataFrame, target: float, funnel: FunnelConfig) -> pd.DataFrame:
    """The funnel around the area's rate, drawn by pipeline.stats.compare.funnel_curves with the
    build's levels and limit method (normal limits widened by φ where overdispersion was
    applied), so the drawn limits are the ones the evidence was classified against.

    rows: one area, measure and month (n, overdispersion_phi, overdispersion_corrected)."""
    phi = applied_phi(rows)
    top = pd.to_numeric(rows["n"], errors="coerce").max()
    one = pd.DataFrame(
        {
            "tender_area": [0],
            "measure": [""],
            "as_of_month": [0],
            "n": [float(top) if pd.notna(top) and top > 0 else 10.0],
            "area_rate": [target],
            "overdispersion_phi": [phi],
            "overdispersion": ["applied" if phi != 1.0 else "not_needed"],
        }
    )
    config = load_stats_config().model_copy(update={"funnel": funnel})
    return compare.funnel_curves(one, config, points=FUNNEL_POINTS)


def funnel_chart(
    rows: pd.DataFrame,
    labels: Mapping[str, str],
    rule: Disclosure,
    title: str,
    adjusted: bool,
    funnel: FunnelConfig,
    colour_map: Mapping[str, str] | None = None,
) -> go.Figure:
    """Funnel plot (tragtplot): each provider's rate against its n, with the area's rate and the
    build's warning and alarm limits (funnel) around it. With `adjusted`, the providers'
    risk-adjusted rates are drawn (O/E × area rate), which is what the soft model judges where
    the risk model fitted.

    rows: protected rows of one area, measure and month (area_rate, n, rate or
    risk_adjusted_rate, overdispersion_phi, overdispersion_corrected).

    Providers are named in the legend and the hover, not by text beside the points: labels of
    providers with similar n and rate overprinted each other and the limit lines."""
    fig = go.Figure()
    target = rows["area_rate"].dropna()
    shown = rows.dropna(subset=["risk_adjusted_rate" if adjusted else "rate"])
    if target.empty:
        danish_layout(fig, title, "Andel", percent=True)
        return fig
    target_rate = float(target.iloc[0])
    curves = funnel_curves(rows, target_rate, funnel)
    for (label, level), dash in zip(funnel.levels.items(), FUNNEL_DASHES, strict=True):
        name = f"{danish.format_percent(level, trim=True)}-grænse"
        for side in ("low", "high"):
            fig.add_trace(
                go.Scatter(
                    x=curves["n"],
                    y=percent(curves[f"funnel_{label}_{side}"]),
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    showlegend=side == "low",
                    line={"color": "#555555", "dash": dash, "width": 1},
                    hoverinfo="skip",
                )
            )
    fig.add_hline(y=target_rate * 100, line={"color": AREA_COLOUR, "width": 2})
    value = "risk_adjusted_rate" if adjusted else "rate"
    palette = colours(list(labels.values()))
    low, high = (
        ("risk_adjusted_rate_low", "risk_adjusted_rate_high") if adjusted else ("rate_low", "rate_high")
    )
    for _, row in shown.sort_values("provider_id").iterrows():
        label = labels.get(str(row["provider_id"]), str(row["provider_id"]))
        fig.add_trace(
            go.Scatter(
                x=[row["n"]],
                y=[row[value] * 100],
                mode="markers",
                name=label,
                marker={
                    "size": 12,
                    "color": _colour_of(row["provider_id"], label, colour_map, palette),
                    "line": {"color": "#ffffff", "width": 1},
                },
                hovertext=[rate_hover(label, row[value], row["n"], rule, row.get(low), row.get(high))],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    danish_layout(fig, title, "Andel (risikojusteret)" if adjusted else "Andel", percent=True)
    fig.update_xaxes(title_text="Antal forløb i grundlaget (n)", rangemode="tozero")
    fig.update_layout(legend={"orientation": "v", "y": 1, "x": 1.02, "yanchor": "top"}, margin={"r": 170})
    return fig


def applied_phi(rows: pd.DataFrame) -> float:
    """The overdispersion factor when the statistics step applied one, else 1."""
    if "overdispersion_phi" not in rows or "overdispersion_corrected" not in rows:
        return 1.0
    applied = rows[rows["overdispersion_corrected"].astype(str).str.lower().isin(("true", "1", "applied"))]
    phi = applied["overdispersion_phi"].dropna()
    return float(phi.iloc[0]) if len(phi) and float(phi.iloc[0]) > 1 else 1.0


# Grouped bars: the width of one provider's group on the category axis, shared by its bars.
GROUP_WIDTH = 0.8


def bar_positions(providers: int, measures: int) -> list[list[float]]:
    """x of each measure's bar per provider: provider i at i, its bars side by side around it.
    positions[j][i] is the bar of measure j of provider i; a reference mark drawn at the same x
    sits on that bar and no other."""
    width = GROUP_WIDTH / max(measures, 1)
    return [[i + (j - (measures - 1) / 2) * width for i in range(providers)] for j in range(measures)]


def rate_bars(
    rows: pd.DataFrame,
    measures: Sequence[str],
    measure_labels: Mapping[str, str],
    labels: Mapping[str, str],
    rule: Disclosure,
    title: str,
) -> go.Figure:
    """Grouped bars: per provider, the rate of each measure (e.g. still in work after 3, 6 and
    12 months), with the area's rate of each measure as a black mark on that measure's bar.

    The bars are placed by bar_positions on a numeric axis labelled with the providers, and each
    area mark at its own bar's x, with a legend entry of its own ("Området: …"): drawn at the
    category's centre, the three marks all sat on the middle bar and only one was named.

    rows: protected rows of one area and month, several measures."""
    fig = go.Figure()
    order = sorted(rows["provider_id"].unique(), key=lambda p: labels.get(str(p), str(p)))
    x = [labels.get(str(p), str(p)) for p in order]
    positions = bar_positions(len(order), len(measures))
    width = GROUP_WIDTH / max(len(measures), 1)
    for i, measure in enumerate(measures):
        part = (
            rows[rows["measure"] == measure]
            .drop_duplicates("provider_id")
            .set_index("provider_id")
            .reindex(order)
        )
        name = measure_labels.get(measure, measure)
        colour = PALETTE[i % len(PALETTE)]
        hover = [
            rate_hover(f"{lab} – {name}", r, n, rule, lo, hi)
            for lab, r, n, lo, hi in zip(
                x, part["rate"], part["n"], part["rate_low"], part["rate_high"], strict=True
            )
        ]
        fig.add_trace(
            go.Bar(
                x=positions[i],
                y=percent(part["rate"]),
                width=width,
                name=name,
                legendgroup=measure,
                marker={"color": colour},
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
        area_rate = part["area_rate"].dropna()
        if not area_rate.empty:
            area_name = f"Området: {name}"
            fig.add_trace(
                go.Scatter(
                    x=positions[i],
                    y=[area_rate.iloc[0] * 100] * len(x),
                    mode="markers",
                    name=area_name,
                    legendgroup=measure,
                    marker={
                        "symbol": "line-ew-open",
                        "size": min(36, max(8, int(600 * width / max(len(x), 1)))),
                        "color": AREA_COLOUR,
                        "line": {"width": 3, "color": AREA_COLOUR},
                    },
                    hovertext=[f"{area_name}: {danish.format_percent(area_rate.iloc[0])}"] * len(x),
                    hovertemplate="%{hovertext}<extra></extra>",
                )
            )
    danish_layout(fig, title, "Andel", percent=True)
    fig.update_xaxes(
        tickmode="array",
        tickvals=list(range(len(x))),
        ticktext=x,
        range=[-0.5, len(x) - 0.5],
        showgrid=False,
        zeroline=False,
    )
    return fig


def progression_chart(
    bands: pd.DataFrame, band_labels: Sequence[str], labels: Mapping[str, str], rule: Disclosure, title: str
) -> go.Figure:
    """The distribution of paid-hours progression: per provider, the share of its referrals in
    each band (stacked to 100 %); a band with fewer than min_count referrals is not drawn.

    bands: provider_id, band, referrals (one area, the month's base)."""
    fig = go.Figure()
    totals = bands.groupby("provider_id")["referrals"].sum()
    order = sorted(totals.index, key=lambda p: labels.get(str(p), str(p)))
    y = [labels.get(str(p), str(p)) for p in order]
    for i, band_label in enumerate(band_labels):
        part = bands[bands["band"] == i].set_index("provider_id")["referrals"].reindex(order).fillna(0)
        share = [math.nan if rule.is_small(c) else c / totals[p] for p, c in zip(order, part, strict=True)]
        hover = [
            f"{lab} – {band_label}: {danish.format_percent(s)} ({count_text(c, rule)} forløb)"
            for lab, s, c in zip(y, share, part, strict=True)
        ]
        fig.add_trace(
            go.Bar(
                y=y,
                x=[s * 100 for s in share],
                name=band_label,
                orientation="h",
                hovertext=hover,
                hovertemplate="%{hovertext}<extra></extra>",
                marker={"color": _band_colour(i, len(band_labels))},
            )
        )
    fig.update_layout(barmode="stack")
    danish_layout(fig, title)
    fig.update_xaxes(ticksuffix=" %", tickformat=",.0f", title_text="Andel af forløbene", range=[0, 100])
    fig.update_yaxes(rangemode="normal", autorange="reversed")
    return fig


def _band_colour(i: int, count: int) -> str:
    """Red for a fall, grey for unchanged, greens for more hours: a diverging scale."""
    scale = ("#c62828", "#9e9e9e", "#a5d6a7", "#43a047", "#1b5e20", "#0d3b12")
    return scale[min(i, len(scale) - 1)] if count <= len(scale) else PALETTE[i % len(PALETTE)]


def flow_chart(
    flow: pd.DataFrame, labels: Mapping[str, str], rule: Disclosure, title: str, rolling_months: int
) -> go.Figure:
    """Referrals ongoing at the month's end and ended in the base months (the build's
    rolling_months), per provider.

    flow: protected rows of one area and month (provider_id, ongoing, ended_base); a count
    below min_count is NaN and not drawn."""
    fig = go.Figure()
    order = sorted(flow["provider_id"], key=lambda p: labels.get(str(p), str(p)))
    part = flow.set_index("provider_id").reindex(order)
    x = [labels.get(str(p), str(p)) for p in order]
    for column, name, colour in (
        ("ongoing", "I gang ved månedens udgang", "#1f77b4"),
        ("ended_base", f"Afsluttet i de seneste {rolling_months} måneder", "#aec7e8"),
    ):
        fig.add_trace(
            go.Bar(
                x=x,
                y=part[column],
                name=name,
                marker={"color": colour},
                hovertext=[
                    f"{lab} – {name}: {count_text(v, rule)}" for lab, v in zip(x, part[column], strict=True)
                ],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    fig.update_layout(barmode="group")
    return danish_layout(fig, title, "Antal forløb")


def flow_trend_chart(flow: pd.DataFrame, rule: Disclosure, title: str) -> go.Figure:
    """One provider's referrals per month: started and ended in the month (bars) and ongoing at
    its end (line). flow: protected rows of one provider and area over the months."""
    fig = go.Figure()
    flow = flow.sort_values("month")
    for column, name, colour in (("started", "Startet", "#2ca02c"), ("ended", "Afsluttet", "#7f7f7f")):
        fig.add_trace(
            go.Bar(
                x=flow["month"],
                y=flow[column],
                name=name,
                marker={"color": colour},
                hovertext=[
                    f"{danish.format_month(m)} – {name}: {count_text(v, rule)}"
                    for m, v in zip(flow["month"], flow[column], strict=True)
                ],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=flow["month"],
            y=flow["ongoing"],
            name="I gang ved månedens udgang",
            mode="lines+markers",
            line={"color": "#1f77b4"},
            hovertext=[
                f"{danish.format_month(m)} – i gang: {count_text(v, rule)}"
                for m, v in zip(flow["month"], flow["ongoing"], strict=True)
            ],
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    fig.update_layout(barmode="group")
    danish_layout(fig, title, "Antal forløb")
    return month_ticks(fig, flow["month"])


def value_bars(
    rows: pd.DataFrame, labels: Mapping[str, str], rule: Disclosure, title: str, y_title: str, unit: str
) -> go.Figure:
    """A mean per provider (cost per result, mean progression) with the area's mean as a line.

    rows: protected rows of one area, measure and month (value_mean, area_value_mean, n,
    successes); a blanked mean is not drawn."""
    fig = go.Figure()
    rows = rows.assign(label=[labels.get(str(p), str(p)) for p in rows["provider_id"]]).sort_values("label")
    fig.add_trace(
        go.Bar(
            x=rows["label"],
            y=rows["value_mean"],
            name="Leverandør",
            marker={"color": PALETTE[0]},
            hovertext=[
                f"{lab}: {danish.format_number(v, 0)} {unit} (n = {count_text(n, rule)})"
                if not math.isnan(v)
                else f"{lab}: ikke vist (n = {count_text(n, rule)})"
                for lab, v, n in zip(rows["label"], rows["value_mean"].astype(float), rows["n"], strict=True)
            ],
            hovertemplate="%{hovertext}<extra></extra>",
        )
    )
    area = rows["area_value_mean"].dropna()
    if not area.empty:
        fig.add_hline(
            y=float(area.iloc[0]),
            line={"color": AREA_COLOUR, "dash": "dash"},
            annotation_text=f"Området: {danish.format_number(float(area.iloc[0]), 0)} {unit}",
        )
    danish_layout(fig, title, y_title)
    fig.update_yaxes(tickformat=",.0f")
    return fig


def states_chart(
    decisions: pd.DataFrame,
    labels: Mapping[str, str],
    state_order: Sequence[str],
    state_labels: Mapping[str, str],
    state_colours: Mapping[str, str],
    reasons: Sequence[str],
    title: str,
) -> go.Figure:
    """Booking states over time: one row per provider, one cell per month, coloured by state,
    the (disclosure-safe) reason sentence in the hover.

    decisions: rows of one model and area (month, provider_id, state); reasons: one per row."""
    fig = go.Figure()
    frame = decisions.assign(reason_shown=list(reasons))
    for state in state_order:
        part = frame[frame["state"] == state]
        if part.empty:
            continue
        name = state_labels.get(state, state)
        fig.add_trace(
            go.Scatter(
                x=part["month"],
                y=[labels.get(str(p), str(p)) for p in part["provider_id"]],
                mode="markers",
                name=name,
                marker={"symbol": "square", "size": 16, "color": state_colours.get(state, "#999999")},
                hovertext=[
                    f"{labels.get(str(p), str(p))}, {danish.format_month(m)}: {name}<br>{r}"
                    for p, m, r in zip(part["provider_id"], part["month"], part["reason_shown"], strict=True)
                ],
                hovertemplate="%{hovertext}<extra></extra>",
            )
        )
    danish_layout(fig, title)
    fig.update_yaxes(rangemode="normal", type="category", categoryorder="category descending")
    return month_ticks(fig, frame["month"])


# The threshold h of the early-warning chart, drawn as a step line (h may change from month to
# month as it is recalibrated on the area's recent volume and case mix).
CUSUM_H_COLOUR = "#c62828"
CUSUM_H_NAME = "Grænse h"


def cusum_chart(
    rows: pd.DataFrame,
    labels: Mapping[str, str],
    title: str,
    colour_map: Mapping[str, str] | None = None,
) -> go.Figure:
    """Early warning (tidlig varsling): the risk-adjusted CUSUM S per provider over the months,
    with the area's threshold h as a red step line and a month with a signal marked by a
    diamond. S is a sum of log-likelihood ratios, neither a count nor a rate, so no disclosure
    rule blanks it; which providers are drawn is the caller's choice (a provider's dashboard
    passes only its own rows).

    rows: fct_provider_cusum rows of one tender area (as_of_month, provider_id, s, h, signal)."""
    fig = go.Figure()
    rows = rows.sort_values(["provider_id", "as_of_month"])
    palette = colours(list(labels.values()))
    for pid, part in rows.groupby("provider_id", sort=True):
        label = labels.get(str(pid), str(pid))
        colour = _colour_of(pid, label, colour_map, palette)
        signal = part["signal"].fillna(False).astype(bool).to_numpy()
        texts = [
            f"{label}: S = {danish.format_number(s, 2)} (h = {danish.format_number(h, 2)})"
            + (", signal i måneden" if sig else "")
            for s, h, sig in zip(part["s"], part["h"], signal, strict=True)
        ]
        marker = {
            "color": colour,
            "symbol": ["diamond" if s else "circle" for s in signal],
            "size": [12 if s else 6 for s in signal],
        }
        fig.add_trace(_month_line(part["as_of_month"], part["s"], label, texts, {"color": colour}, marker))
    limit = rows.dropna(subset=["h"]).drop_duplicates("as_of_month").sort_values("as_of_month")
    texts = [f"{CUSUM_H_NAME}: {danish.format_number(h, 2)}" for h in limit["h"]]
    line = {"color": CUSUM_H_COLOUR, "width": 2, "dash": "dash", "shape": "hv"}
    fig.add_trace(_month_line(limit["as_of_month"], limit["h"], CUSUM_H_NAME, texts, line))
    danish_layout(fig, title, "CUSUM S")
    fig.update_yaxes(tickformat=",.1f")
    return month_ticks(fig, rows["as_of_month"])


def _month_line(
    months: pd.Series,
    values: pd.Series,
    name: str,
    texts: Sequence[str],
    line: dict,
    marker: dict | None = None,
) -> go.Scatter:
    """A line over the months with a hover text per month, headed by the month's Danish name."""
    return go.Scatter(
        x=months,
        y=values.astype(float),
        name=name,
        mode="lines+markers" if marker else "lines",
        line=line,
        marker=marker,
        text=[f"{danish.format_month(m)}<br>{t}" for m, t in zip(months, texts, strict=True)],
        hovertemplate="%{text}<extra></extra>",
    )
