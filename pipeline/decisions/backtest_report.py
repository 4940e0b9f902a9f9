"""The back-test's table and chart (decisions.md, "Back-test"), and on synthetic data its score
against the generator's ground truth.

Per model: provider-months in each state, state changes, referrals moved; with a ground-truth
file also how often the model stopped or reduced a provider that was truly no worse than its
area, and how many months after a provider truly became worse the model first reacted. The
table is written as CSV (numbers, for tools) and Markdown (Danish, for the README and readers);
the chart is one self-contained Plotly HTML file with Danish labels that opens offline."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from pipeline import danish
from pipeline.decisions.backtest import BacktestResult
from pipeline.decisions.evidence import Evidence
from pipeline.decisions.rules import HardState, Model, Rules, SoftState, model_names
from pipeline.errors import ProvmonError
from pipeline.files import atomic_path
from pipeline.months import month_start, months_between
from pipeline.reports.config import load_config as load_report_config

# The models' names (rules.yaml) and the states' colours (reports.yaml), one home each.
MODEL_LABELS = {model: model_names().of(model) for model in Model}
STATES: dict[Model, tuple[str, ...]] = {Model.SOFT: tuple(SoftState), Model.HARD: tuple(HardState)}
NORMAL = {Model.SOFT: SoftState.GREEN.value, Model.HARD: HardState.OPEN.value}
COLOURS = load_report_config().state_colours
# The two models' lines in the line panels: one colour and dash per model.
LINES = {Model.SOFT: {"color": "#1565c0", "dash": "solid"}, Model.HARD: {"color": "#6d4c41", "dash": "dash"}}
TABLE_COLUMNS = ["metric", "label", *(m.value for m in Model)]
PROVIDER_COLUMNS = [
    "model",
    "provider_id",
    "tender_area",
    "role",
    "worse_from",
    "counted_from",
    "first_reaction",
    "reaction_months",
    "first_reduction",
    "reduction_months",
]
# Per planted drop (role `drops`): months from the drop month itself to the first reaction and
# reduction, whether or not the provider could be judged by then (the issue-17 targets).
DROP_COLUMNS = [
    "model",
    "provider_id",
    "tender_area",
    "drop_month",
    "first_reaction",
    "reaction_months",
    "first_reduction",
    "reduction_months",
]
# The CUSUM's false signals are reported per this many provider-months (its in-control target,
# dbt var cusum_arl_months, is at most one per provider in 60 months).
FALSE_SIGNAL_SPAN = 60
CSV_FILE, MARKDOWN_FILE, CHART_FILE, PROVIDERS_FILE = (
    "backtest.csv",
    "backtest.md",
    "backtest.html",
    "backtest_providers.csv",
)


class GroundTruthError(ProvmonError):
    """The ground-truth file cannot be read as the generator writes it."""


# --- ground truth -------------------------------------------------------------------------------

Role = Literal["normal", "worse", "better", "hard_intake", "drops"]


class TrueProvider(BaseModel):
    """One provider's planted truth (pipeline/generate writes it; the pipeline never reads it)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    areas: tuple[int, ...] = ()
    role: Role
    drop_month: date | None = None
    # True log-odds shift per measure, and from drop_month on; absent: judged by role alone.
    effects: dict[str, float] = {}
    effects_from_drop_month: dict[str, float] | None = None

    @field_validator("drop_month", mode="before")
    @classmethod
    def _month(cls, value: Any) -> Any:
        return month_start(value) if isinstance(value, str) and value else value or None

    def worse_from(self, first_month: date, measure: str) -> date | None:
        """The first month the provider is truly worse than its area on `measure` (a negative
        true effect), or None if it never is. Without effects: `worse` all along, `drops` from
        its drop month."""
        before, after = self.effects.get(measure), (self.effects_from_drop_month or {}).get(measure)
        if before is None:
            before = -1.0 if self.role == "worse" else 0.0
            after = -1.0 if self.role in ("worse", "drops") else 0.0
        if before < 0:
            return first_month
        if self.drop_month is not None and after is not None and after < 0:
            return self.drop_month
        return None


@dataclass(frozen=True)
class GroundTruth:
    providers: dict[str, TrueProvider]

    @classmethod
    def load(cls, path: Path) -> GroundTruth:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GroundTruthError(f"no ground-truth file at {path}") from None
        except (OSError, ValueError) as exc:
            raise GroundTruthError(f"{path}: not a readable JSON file ({exc})") from None
        return cls.from_dict(data, path)

    @classmethod
    def from_dict(cls, data: Any, where: Path | str = "ground truth") -> GroundTruth:
        raw = data.get("providers") if isinstance(data, dict) else None
        if isinstance(raw, list):
            raw = {str(p.get("provider_id")): p for p in raw if isinstance(p, dict)}
        if not isinstance(raw, dict) or not raw:
            raise GroundTruthError(f"{where}: expected `providers` with each provider's role")
        return cls({str(k): _provider(v, f"{where}: providers.{k}") for k, v in raw.items()})


def _provider(data: Any, where: str) -> TrueProvider:
    try:
        return TrueProvider.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise GroundTruthError(f"{where}.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _first(months: pd.Series) -> date | None:
    return min(months) if len(months) else None


def _with_truth(decisions: pd.DataFrame, truth: GroundTruth) -> pd.DataFrame:
    """Decision rows of providers the ground truth knows, with whether the provider was truly
    worse than its area on the judged measure that month, whether the model flagged it (any
    state but the normal one) and whether it reduced its bookings (share below 1)."""
    first = min(decisions["month"])
    rows = decisions[decisions["provider_id"].isin(truth.providers)].copy()
    since = [
        truth.providers[p].worse_from(first, m)
        for p, m in zip(rows["provider_id"], rows["measure"], strict=True)
    ]
    rows["worse_from"] = since
    rows["truly_worse"] = [s is not None and m >= s for s, m in zip(since, rows["month"], strict=True)]
    rows["flagged"] = rows["state"] != rows["model"].map(NORMAL)
    rows["reduced"] = rows["share"] < 1
    rows["judged"] = rows["evidence"] != Evidence.INSUFFICIENT.value
    return rows


def truth_scores(
    decisions: pd.DataFrame, truth: GroundTruth
) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """Per model the false alarms among truly-no-worse provider-months, and per truly worse
    provider-area the months until the model first flagged and first reduced it."""
    rows = _with_truth(decisions, truth)
    scores: dict[str, dict[str, float]] = {}
    reactions = []
    for model in Model:
        mine = rows[rows["model"] == model.value]
        fine = mine[~mine["truly_worse"]]
        reduced = fine[fine["reduced"]]
        scores[model.value] = {
            "truly_ok_provider_months": len(fine),
            "false_flags": int(fine["flagged"].sum()),
            "false_reductions": len(reduced),
            "false_reduction_share": len(reduced) / len(fine) if len(fine) else math.nan,
            "providers_falsely_reduced": len(reduced[["provider_id", "tender_area"]].drop_duplicates()),
        }
        reactions += _reactions(model, mine, truth)
    providers = pd.DataFrame(reactions, columns=PROVIDER_COLUMNS)
    for model in Model:
        mine = providers[providers["model"] == model.value]
        scores[model.value] |= {
            "truly_worse_providers": len(mine),
            "worse_never_reduced": int(mine["first_reduction"].isna().sum()),
            "mean_reduction_months": mine["reduction_months"].mean() if len(mine) else math.nan,
        }
        for r in mine.itertuples(index=False):
            scores[model.value][f"reaction_months:{r.provider_id}:{r.tender_area}"] = r.reaction_months
            scores[model.value][f"reduction_months:{r.provider_id}:{r.tender_area}"] = r.reduction_months
    return scores, providers


def _reactions(model: Model, rows: pd.DataFrame, truth: GroundTruth) -> list[dict[str, object]]:
    """Per truly worse provider-area: the months from when the model could first have seen it
    (truly worse, and enough referrals to judge) to its first reaction and first reduction."""
    out = []
    for (provider, area), own in rows[rows["worse_from"].notna()].groupby(["provider_id", "tender_area"]):
        since = own["worse_from"].iloc[0]
        judged = own.loc[own["judged"] & (own["month"] >= since), "month"]
        if judged.empty:
            continue  # never both truly worse and judgeable in the period: nothing to react to
        counted = min(judged)
        after = own[own["month"] >= counted]
        flag, cut = _first(after.loc[after["flagged"], "month"]), _first(after.loc[after["reduced"], "month"])
        out.append(
            {
                "model": model.value,
                "provider_id": provider,
                "tender_area": int(area),
                "role": truth.providers[provider].role,
                "worse_from": since,
                "counted_from": counted,
                "first_reaction": flag,
                "reaction_months": months_between(counted, flag) if flag else math.nan,
                "first_reduction": cut,
                "reduction_months": months_between(counted, cut) if cut else math.nan,
            }
        )
    return out


def drop_reactions(decisions: pd.DataFrame, truth: GroundTruth) -> pd.DataFrame:
    """DROP_COLUMNS for every planted drop (role `drops`, drop month within the period) in every
    area where the provider has decisions: months from the drop month to the model's first
    flag and first reduction at or after it (NaN: none in the period). Counted from the drop
    itself, not from the first judgeable month, so that a slow measure counts against the model."""
    out = []
    first, last = min(decisions["month"]), max(decisions["month"])
    for provider, p in sorted(truth.providers.items()):
        if p.role != "drops" or p.drop_month is None or not first <= p.drop_month <= last:
            continue
        rows = decisions[(decisions["provider_id"] == provider) & (decisions["month"] >= p.drop_month)]
        for (model, area), own in rows.groupby(["model", "tender_area"], sort=True):
            normal = own["state"] == NORMAL[Model(model)]
            flag, cut = _first(own.loc[~normal, "month"]), _first(own.loc[own["share"] < 1, "month"])
            out.append(
                {
                    "model": model,
                    "provider_id": provider,
                    "tender_area": int(area),
                    "drop_month": p.drop_month,
                    "first_reaction": flag,
                    "reaction_months": months_between(p.drop_month, flag) if flag else math.nan,
                    "first_reduction": cut,
                    "reduction_months": months_between(p.drop_month, cut) if cut else math.nan,
                }
            )
    return pd.DataFrame(out, columns=DROP_COLUMNS)


def red_without_review(decisions: pd.DataFrame, review_months: Mapping[int, int]) -> int:
    """Model B's provider-months in RED with `insufficient` evidence, at least the area's
    review_months after entering RED, that are not flagged for the meeting (issue 17: none)."""
    soft = decisions[(decisions["model"] == Model.SOFT.value) & (decisions["state"] == SoftState.RED.value)]
    soft = soft[soft["evidence"] == Evidence.INSUFFICIENT.value]
    since = soft["state_since"]
    held = [
        s is not None and not pd.isna(s) and months_between(s, m) >= review_months[int(a)]
        for s, m, a in zip(since, soft["month"], soft["tender_area"], strict=True)
    ]
    return int((pd.Series(held, index=soft.index, dtype=bool) & ~soft["review_required"].astype(bool)).sum())


def cusum_false_signals(decisions: pd.DataFrame, truth: GroundTruth) -> dict[str, float]:
    """The early-warning chart's signals in provider-months where the provider was truly no
    worse than its area (the chart is the same under both models; read from model B's rows),
    and their rate per FALSE_SIGNAL_SPAN provider-months."""
    rows = _with_truth(decisions[decisions["model"] == Model.SOFT.value], truth)
    fine = rows[~rows["truly_worse"]]
    signals = int(fine["cusum_signal"].astype(bool).sum())
    return {
        "cusum_false_signals": signals,
        "cusum_false_signal_rate": FALSE_SIGNAL_SPAN * signals / len(fine) if len(fine) else math.nan,
    }


# --- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestReport:
    table: pd.DataFrame  # TABLE_COLUMNS: one row per metric, one column per model
    providers: pd.DataFrame | None  # PROVIDER_COLUMNS, with a ground truth only
    figure: go.Figure

    def value(self, metric: str, model: Model | str) -> float | None:
        """One cell of the table: a metric of a model, None where it has none."""
        found = self.table.loc[self.table["metric"] == metric, Model(model).value]
        return None if found.empty or pd.isna(found.iloc[0]) else float(found.iloc[0])


def _state_label(rules: Rules, model: Model, state: str) -> str:
    return rules.area(min(rules.areas)).label(model, state)


def _table(
    result: BacktestResult, rules: Rules, truth: GroundTruth | None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    summary = result.summary.set_index("model")
    states = result.states.set_index(["model", "state"])["provider_months"]
    rows: list[dict[str, object]] = []

    def add(metric: str, label: str, values: dict[str, float | None]) -> None:
        rows.append({"metric": metric, "label": label, **{m.value: values.get(m.value) for m in Model}})

    def from_summary(metric: str, label: str) -> None:
        add(metric, label, {m.value: summary.loc[m.value, metric] for m in Model})

    from_summary("months", "Måneder")
    from_summary("provider_months", "Leverandør-måneder")
    for model in Model:
        for state in STATES[model]:
            add(
                f"state:{state}",
                f"Leverandør-måneder i tilstanden {_state_label(rules, model, state)} ({state})",
                {model.value: int(states.get((model.value, state), 0))},
            )
    from_summary("state_changes", "Tilstandsskift")
    from_summary("referrals_moved", "Henvisninger flyttet til andre leverandører")
    review = {int(a): rules.area(int(a)).soft.review_months for a in set(result.decisions["tender_area"])}
    add(
        "red_without_review",
        "Leverandør-måneder i Bookingstop med utilstrækkeligt grundlag i mindst review_months "
        "måneder uden revurdering på mødet",
        {Model.SOFT.value: red_without_review(result.decisions, review)},
    )
    if truth is None:
        return pd.DataFrame(rows, columns=TABLE_COLUMNS), None
    scores, providers = truth_scores(result.decisions, truth)
    labels = {
        "truly_ok_provider_months": (
            "Leverandør-måneder, hvor leverandøren reelt ikke var dårligere end området"
        ),
        "false_flags": "– heraf fejlagtigt sat under skærpet opfølgning eller mere",
        "false_reductions": "– heraf fejlagtigt reduceret eller stoppet",
        "false_reduction_share": "Andel fejlagtigt reduceret eller stoppet",
        "providers_falsely_reduced": "Leverandører fejlagtigt reduceret eller stoppet mindst én måned",
        "truly_worse_providers": "Leverandører, der reelt var dårligere end området",
        "worse_never_reduced": "– heraf aldrig reduceret eller stoppet i perioden",
        "mean_reduction_months": "Gns. måneder til første reduktion eller stop",
    }
    for metric, label in labels.items():
        add(metric, label, {m: s[metric] for m, s in scores.items()})
    signals = cusum_false_signals(result.decisions, truth)
    add(
        "cusum_false_signals",
        "Tidlig varsling (CUSUM): signaler, hvor leverandøren reelt ikke var dårligere end området",
        {Model.SOFT.value: signals["cusum_false_signals"]},
    )
    add(
        "cusum_false_signal_rate",
        f"– heraf pr. leverandør pr. {FALSE_SIGNAL_SPAN} måneder",
        {Model.SOFT.value: signals["cusum_false_signal_rate"]},
    )
    first_counted = providers.sort_values("counted_from").drop_duplicates(["provider_id", "tender_area"])
    for r in first_counted.sort_values(["tender_area", "provider_id"]).itertuples(index=False):
        role = _ROLE_DA.get(r.role, r.role)
        who = f"{r.provider_id} (område {r.tender_area}, {role}, fra {danish.format_month(r.counted_from)})"
        for kind, text in (("reaction", "første reaktion"), ("reduction", "første reduktion eller stop")):
            key = f"{kind}_months:{r.provider_id}:{r.tender_area}"
            add(key, f"Måneder til {text}: {who}", {m: s.get(key) for m, s in scores.items()})
    drops = drop_reactions(result.decisions, truth).set_index(["model", "provider_id", "tender_area"])
    for provider, area, month in (
        drops.reset_index()[["provider_id", "tender_area", "drop_month"]]
        .drop_duplicates(["provider_id", "tender_area"])
        .itertuples(index=False)
    ):
        who = f"{provider} (område {area}, fald fra {danish.format_month(month)})"
        for kind, text in (("reaction", "første reaktion"), ("reduction", "første reduktion eller stop")):
            values = {m.value: drops[f"{kind}_months"].get((m.value, provider, area)) for m in Model}
            add(f"drop_{kind}_months:{provider}:{area}", f"Måneder fra faldet til {text}: {who}", values)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS), providers


REACTION_NOTE = (
    "Reaktionstiden tælles fra den første måned, hvor leverandøren reelt var dårligere end "
    "området (syntetiske data, kendt sandhed) og havde forløb nok til en vurdering; "
    '"fra faldet" tælles fra den måned, resultaterne faldt, uanset om der var forløb nok.'
)
_ROLE_DA = {"worse": "dårligere", "drops": "faldende resultater"}


def _cell(metric: str, value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return danish.MISSING
    if metric.endswith("_share"):
        return danish.format_percent(float(value))  # type: ignore[arg-type]
    if metric.startswith(
        (
            "reaction_months",
            "reduction_months",
            "drop_",
            "mean_",
            "referrals_moved",
            "cusum_false_signal_rate",
        )
    ):
        return danish.format_number(float(value), 1)  # type: ignore[arg-type]
    return danish.format_int(float(value))  # type: ignore[arg-type]


def markdown_table(table: pd.DataFrame) -> str:
    """The table in Danish, one column per model, numbers formatted the Danish way; a model
    without a value for a row (another model's state) shows a dash."""
    header = ["Mål", *(MODEL_LABELS[m] for m in Model)]
    lines = ["| " + " | ".join(header) + " |", "| --- | " + " | ".join("---:" for _ in Model) + " |"]
    for r in table.to_dict("records"):
        cells = [str(r["label"]), *(_cell(str(r["metric"]), r[m.value]) for m in Model)]
        lines.append("| " + " | ".join(cells) + " |")
    if "mean_reduction_months" in set(table["metric"]):
        lines += ["", REACTION_NOTE]
    return "\n".join(lines) + "\n"


# --- the chart ----------------------------------------------------------------------------------


def _month_labels(months: Sequence[date]) -> list[str]:
    return [danish.format_month(m) for m in months]


def figure(result: BacktestResult, rules: Rules, truth: GroundTruth | None = None) -> go.Figure:
    """States per month under each model, state changes and referrals moved per month."""
    d = result.decisions
    months = sorted(set(d["month"]))
    x = _month_labels(months)
    fig = make_subplots(
        rows=4,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=[
            f"Leverandører pr. tilstand – {MODEL_LABELS[Model.SOFT].lower()}",
            f"Leverandører pr. tilstand – {MODEL_LABELS[Model.HARD].lower()}",
            "Tilstandsskift pr. måned",
            "Henvisninger flyttet til andre leverandører pr. måned",
        ],
    )
    for row, model in enumerate(Model, start=1):
        counts = d[d["model"] == model.value].groupby(["month", "state"]).size()
        for state in STATES[model]:
            label = _state_label(rules, model, state)
            y = [int(counts.get((m, state), 0)) for m in months]
            fig.add_bar(
                x=x,
                y=y,
                name=f"{MODEL_LABELS[model]}: {label}",
                marker_color=COLOURS[state],
                legendgroup=model.value,
                row=row,
                col=1,
                hovertemplate=f"%{{x}}<br>{label}: %{{y}} leverandører<extra></extra>",
            )
    changed = d["previous_state"].notna() & (d["state"] != d["previous_state"])
    moved = result.moved.groupby(["model", "month"])["referrals_moved"].sum(min_count=1)
    for model in Model:
        mine = changed & (d["model"] == model.value)
        per_month = d[mine].groupby("month").size()
        common = {
            "x": x,
            "mode": "lines+markers",
            "line": LINES[model],
            "legendgroup": f"{model.value}-lines",
        }
        fig.add_scatter(
            y=[int(per_month.get(m, 0)) for m in months],
            name=f"{MODEL_LABELS[model]}: tilstandsskift",
            hovertemplate="%{x}<br>%{y} tilstandsskift<extra></extra>",
            row=3,
            col=1,
            **common,
        )
        fig.add_scatter(
            y=[moved.get((model.value, m)) for m in months],
            name=f"{MODEL_LABELS[model]}: flyttede henvisninger",
            hovertemplate="%{x}<br>%{y:.1f} henvisninger<extra></extra>",
            row=4,
            col=1,
            **common,
        )
    _mark_drops(fig, truth, months)
    fig.update_layout(
        barmode="stack",
        separators=",.",
        height=1100,
        title="Back-test af bookingmodellerne",
        legend={"orientation": "v"},
        template="plotly_white",
    )
    fig.update_yaxes(title_text="Leverandører", row=1, col=1)
    fig.update_yaxes(title_text="Leverandører", row=2, col=1)
    fig.update_yaxes(title_text="Antal", row=3, col=1)
    fig.update_yaxes(title_text="Henvisninger", row=4, col=1)
    return fig


def _mark_drops(fig: go.Figure, truth: GroundTruth | None, months: Sequence[date]) -> None:
    """A dotted line in every panel where providers' results truly dropped (synthetic data
    only), named once in the bottom panel."""
    if truth is None:
        return
    drops: dict[date, list[str]] = {}
    for provider, p in sorted(truth.providers.items()):
        if p.role == "drops" and p.drop_month in months:
            drops.setdefault(p.drop_month, []).append(provider)
    for month, providers in drops.items():
        x = danish.format_month(month)
        for row in range(1, 5):
            fig.add_vline(x=months.index(month), line_dash="dot", line_color="grey", row=row, col=1)
        fig.add_annotation(
            x=x, y=1, yref="y4 domain", text=f"Fald i resultater: {', '.join(providers)}",
            showarrow=False, xanchor="left", yanchor="top", font={"size": 11, "color": "grey"},
        )  # fmt: skip


# --- building and writing -------------------------------------------------------------------------


def build_report(result: BacktestResult, rules: Rules, truth: GroundTruth | None = None) -> BacktestReport:
    table, providers = _table(result, rules, truth)
    return BacktestReport(table, providers, figure(result, rules, truth))


def write_report(report: BacktestReport, folder: Path) -> list[Path]:
    """Write the table (CSV and Markdown), the per-provider reactions (CSV) and the chart."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Path, Any]] = [
        (folder / CSV_FILE, lambda p: report.table.to_csv(p, index=False)),
        (folder / MARKDOWN_FILE, lambda p: p.write_text(markdown_table(report.table), encoding="utf-8")),
        (folder / CHART_FILE, lambda p: report.figure.write_html(p, include_plotlyjs=True, full_html=True)),
    ]
    if report.providers is not None:
        written.append((folder / PROVIDERS_FILE, lambda p: report.providers.to_csv(p, index=False)))
    for path, write in written:
        with atomic_path(path) as tmp:
            write(tmp)
    return [path for path, _ in written]
