"""The per-policy summary of a simulation over seeds (mean and range), as JSON, a Markdown
table and a Danish HTML page with a chart of results per 100 referrals per policy over time."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from html import escape
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from pipeline import danish
from pipeline.simulate.loop import PolicyRun

# The metrics of decisions.md, "Policy simulation", with their Danish label.
METRICS: dict[str, str] = {
    "results_per_100": "Resultater pr. 100 henvisninger (alle områder)",
    "referrals_to_worse": "Henvisninger til reelt dårligere leverandører",
    "wrongly_reduced": "Leverandørmåneder reduceret/stoppet uden grund",
    "months_to_reaction": "Måneder fra planlagt fald til første reaktion",
    "drops_missed": "Planlagte fald uden reaktion i perioden",
    "state_changes": "Tilstandsskift",
    "red_months": "Leverandørmåneder i bookingstop",
    "longest_red": "Længste bookingstop (måneder)",
    "no_route_out": "Leverandører uden vej ud ved periodens slutning",
}


def _spells(zero: pd.Series) -> int:
    """The longest run of True in a month-ordered series."""
    longest = run = 0
    for value in zero:
        run = run + 1 if value else 0
        longest = max(longest, run)
    return longest


def run_metrics(run: PolicyRun, drops: Sequence[tuple[str, date]]) -> dict[str, float | None]:
    """The metrics of one policy on one seed. drops: (provider_id, first month of its planted drop)."""
    b = run.bookings
    pop = b[b["in_population"]]
    out: dict[str, float | None] = {
        "results_per_100": 100 * float(pop["success"].mean()) if len(pop) else None,
        "referrals_to_worse": float(b["truly_worse"].sum()),
    }
    for area, rows in pop.groupby("tender_area"):
        out[f"results_per_100_area_{int(area)}"] = 100 * float(rows["success"].mean())
    d = run.decisions
    if d.empty:
        out.update(wrongly_reduced=0.0, state_changes=0.0, red_months=0.0, longest_red=0.0, no_route_out=0.0)
        out["months_to_reaction"] = None
        out["drops_missed"] = float(len(drops))
        return out
    out["wrongly_reduced"] = float(((d["share"] < 1) & ~d["truly_worse"].astype(bool)).sum())
    out["state_changes"] = float((d["previous_state"].notna() & (d["state"] != d["previous_state"])).sum())
    out["red_months"] = float((d["share"] == 0).sum())
    out["longest_red"] = float(
        max(
            (
                _spells(g.sort_values("month")["share"] == 0)
                for _, g in d.groupby(["provider_id", "tender_area"])
            ),
            default=0,
        )
    )
    last = d[d["month"] == d["month"].max()]
    out["no_route_out"] = float(last["review_required"].sum())
    lags = []
    for provider, drop in drops:
        mine = d[(d["provider_id"] == provider) & (d["month"] >= drop) & (d["state"] != d["previous_state"])]
        mine = mine[~mine["state"].isin(["GREEN", "OPEN"])]
        if len(mine):
            first = mine["month"].min()
            lags.append((first.year - drop.year) * 12 + first.month - drop.month)
    out["months_to_reaction"] = float(sum(lags) / len(lags)) if lags else None
    # a reaction time alone hides the drops never reacted to ("–" looks like no drop at all);
    # a provider already reduced when its drop came is not missed
    out["drops_missed"] = float(
        sum(
            not ((d["provider_id"] == p) & (d["month"] >= drop) & ~d["state"].isin(["GREEN", "OPEN"])).any()
            for p, drop in drops
        )
    )
    return out


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per policy and metric: mean, min and max over the seeds (metrics: policy, seed, metric columns)."""
    long = metrics.melt(id_vars=["policy", "seed"], var_name="metric").dropna(subset=["value"])
    order = list(dict.fromkeys(metrics["policy"]))
    table = long.groupby(["policy", "metric"])["value"].agg(["mean", "min", "max"]).reset_index()
    table["policy"] = pd.Categorical(table["policy"], order)
    return table.sort_values(["policy", "metric"]).reset_index(drop=True)


def metric_label(metric: str) -> str:
    if metric.startswith("results_per_100_area_"):
        return f"Resultater pr. 100 henvisninger, område {metric.rsplit('_', 1)[1]} (primært mål)"
    return METRICS.get(metric, metric)


def _cell(mean: float, low: float, high: float, decimals: int = 1) -> str:
    f = danish.format_number
    return (
        f(mean, decimals) if low == high else f"{f(mean, decimals)} ({f(low, decimals)}–{f(high, decimals)})"
    )


def _wide(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    policies = [str(p) for p in table["policy"].cat.categories if p in set(table["policy"])]
    metrics = [m for m in METRICS if m in set(table["metric"])]
    metrics[1:1] = sorted(m for m in set(table["metric"]) if m.startswith("results_per_100_area_"))
    rows = []
    for metric in metrics:
        cells = []
        for policy in policies:
            hit = table[(table["policy"] == policy) & (table["metric"] == metric)]
            cells.append(_cell(*hit[["mean", "min", "max"]].iloc[0]) if len(hit) else "–")
        rows.append([metric_label(metric), *cells])
    return policies, rows


def markdown(table: pd.DataFrame, seeds: Sequence[int], scale: str, months: int, on: date) -> str:
    """The table in Markdown: one row per metric, one column per policy, mean (min–max)."""
    policies, rows = _wide(table)
    head = f"| Mål | {' | '.join(policies)} |\n| --- |{' --- |' * len(policies)}\n"
    body = "".join(f"| {' | '.join(r)} |\n" for r in rows)
    return head + body + f"\n{_caption(seeds, scale, months, on)}\n"


def _caption(seeds: Sequence[int], scale: str, months: int, on: date) -> str:
    """What the table was run on: a table without its seeds and date cannot be compared."""
    seed_text = ", ".join(map(str, seeds))
    return (
        f"Skala {scale}, {months} måneder, frø {seed_text}; gennemsnit (min–max) over frøene; "
        f"kørt {danish.format_date(on)}."
    )


def html_page(
    table: pd.DataFrame, series: pd.DataFrame, seeds: Sequence[int], scale: str, months: int, on: date
) -> str:
    """A self-contained Danish page: the table and the chart of results per 100 referrals per
    policy by booking month (mean over the seeds)."""
    policies, rows = _wide(table)
    fig = go.Figure()
    for policy, g in series.groupby("policy", sort=False):
        g = g.sort_values("month")
        fig.add_trace(
            go.Scatter(
                x=[danish.format_month(m) for m in g["month"]],
                y=g["results_per_100"],
                mode="lines",
                name=str(policy),
                hovertemplate="%{x}: %{y:.1f}<extra>" + str(policy) + "</extra>",
            )
        )
    fig.update_layout(
        title="Resultater pr. 100 henvisninger efter henvisningsmåned",
        xaxis_title="Henvisningsmåned",
        yaxis_title="Resultater pr. 100 henvisninger",
        separators=",.",
    )
    head = "".join(f"<th>{escape(str(p))}</th>" for p in ["Mål", *policies])
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return (
        '<!doctype html><html lang="da"><head><meta charset="utf-8">'
        "<title>Politiksimulering</title></head><body>"
        "<h1>Politiksimulering (lukket kredsløb)</h1>"
        f"<p>{_caption(seeds, scale, months, on)} Syntetiske data: de sande leverandøreffekter er kendte.</p>"
        f"<table border='1'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        + fig.to_html(full_html=False, include_plotlyjs=True)
        + "</body></html>"
    )


def write_outputs(
    out: Path,
    table: pd.DataFrame,
    series: pd.DataFrame,
    seeds: Sequence[int],
    scale: str,
    months: int,
    on: date,
) -> list[Path]:
    """simulate.json, simulate.md and simulate.html in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "scale": scale,
        "months": months,
        "seeds": list(seeds),
        "date": on.isoformat(),
        "table": table.assign(policy=table["policy"].astype(str)).to_dict("records"),
    }
    paths = [out / "simulate.json", out / "simulate.md", out / "simulate.html"]
    paths[0].write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths[1].write_text(markdown(table, seeds, scale, months, on), encoding="utf-8")
    paths[2].write_text(html_page(table, series, seeds, scale, months, on), encoding="utf-8")
    return paths
