"""The two notebooks' pages: what `notebooks/monthly_followup.py` (one tender area, every
provider named) and `notebooks/provider_dialogue.py` (one provider, the others anonymised) load
and show. A notebook cell calls one of these and displays the result; nothing else."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML

from pipeline import danish
from pipeline.decisions.rules import SOFT_ORDER, Model, Rules, load_rules
from pipeline.reports import charts, present, quality
from pipeline.reports.config import ReportConfig, load_config
from pipeline.reports.data import ReportData, ReportInputError, load_report_data
from pipeline.reports.disclosure import as_number, count_text, provider_labels
from pipeline.reports.views import AreaView, rate_text, row_rate_text
from pipeline.stats.config import two_sided_z


def _load(
    marts_dir: str | Path, month: str | None, quality_file: str | None, warehouse: str | None
) -> tuple[ReportData, ReportConfig, Rules]:
    config = load_config()
    snap = quality.read_snapshot(quality_file, warehouse)
    return load_report_data(Path(marts_dir), month, config, snap), config, load_rules()


# --- sections both notebooks show (issue 16) -----------------------------------------------------

NO_BASE = "Ingen forløb i grundlaget for måneden i dette udbudsområde."


def measure_section(view: AreaView, tables: list[pd.DataFrame], trend: str | None = None) -> list[HTML]:
    """The outputs of one measure section: its tables and the trend of `trend`, or one note
    when none of the tables has a row (the measure has no base in the area)."""
    shown = [present.table(t) for t in tables if not t.empty]
    if not shown:
        return [present.note(NO_BASE)]
    return shown if trend is None else [*shown, present.figure(view.trend(trend))]


def purpose_section(view: AreaView) -> list[HTML]:
    """Resultatmål opnået: per provider against the area, with its trend."""
    return measure_section(view, [view.purpose_table()], view.config.measures.purpose)


def attendance_section(view: AreaView) -> list[HTML]:
    """Fremmøde: stable attendance and the mentor offers' mean attendance rate, with the trend
    of stable attendance."""
    return measure_section(view, view.attendance_tables(), view.config.measures.attendance)


def aftercare_section(view: AreaView) -> list[HTML]:
    """Efterværn on its own line: retention after aftercare, apart from every other measure."""
    return measure_section(view, [view.aftercare_table()])


# --- the monthly follow-up (one tender area) ------------------------------------------------------


@dataclass
class FollowupPage:
    view: AreaView

    @property
    def data(self) -> ReportData:
        return self.view.data

    @property
    def title(self) -> str:
        return f"Leverandøropfølgning {danish.format_month(self.data.month)}"

    @property
    def subtitle(self) -> str:
        return (
            f"{self.view.title}. Resultatmål over de seneste {self.data.parameters.rolling_months} "
            "måneders grundlag; "
            f"tal under {self.view.rule.min_count} vises som {self.view.rule.small_label}."
        )

    def quality_section(self) -> HTML:
        """The "Datakvalitet" section (pipeline/reports/quality.py)."""
        return quality.section(self.data.quality, self.data.exclusions)

    @property
    def shows_fit(self) -> bool:
        return self.view.area in self.view.config.sections.fit_areas

    @property
    def shows_rehab(self) -> bool:
        return self.view.area in self.view.config.sections.rehab_areas


def followup_page(
    marts_dir: str | Path,
    month: str | None,
    tender_area: int,
    quality_file: str | None = None,
    warehouse: str | None = None,
) -> FollowupPage:
    """The follow-up meeting's page of one tender area; every provider is named (the meeting is
    the administration's own)."""
    data, config, rules = _load(marts_dir, month, quality_file, warehouse)
    area = int(tender_area)
    if area not in data.areas():
        raise ReportInputError(
            f"tender area {area} has no providers in {data.month:%Y-%m} (areas with results: {data.areas()})"
        )
    return FollowupPage(AreaView(data, area, config, rules, data.provider_names()))


# --- the provider dialogue (one provider) ---------------------------------------------------------


@dataclass
class DialoguePage:
    provider_id: str
    provider_name: str
    views: list[AreaView]
    named: bool

    @property
    def data(self) -> ReportData:
        return self.views[0].data

    @property
    def title(self) -> str:
        return f"{self.provider_name}: resultater {danish.format_month(self.data.month)}"

    @property
    def subtitle(self) -> str:
        rule = self.views[0].rule
        others = (
            "De andre leverandører er nævnt ved navn."
            if self.named
            else "De andre leverandører i området er anonymiseret (Leverandør A, B …)."
        )
        return (
            f"Dialogmøde om leverandørens resultater. {others} Tal under {rule.min_count} vises som "
            f"{rule.small_label}, og andele beregnet på dem vises ikke."
        )

    def own_results(self, view: AreaView) -> pd.DataFrame:
        """The provider's measures against its area, with and without the provider; efterværn
        (retention after aftercare) last, on its own line, as it is in no other measure's base."""
        config = view.config
        measures = view.measures_shown(
            [view.primary, *config.measures.overview, *config.measures.sustainability]
        )
        measures += [m for m in view.measures_shown([config.measures.aftercare]) if m not in measures]
        out = []
        for measure in measures:
            rows = view.month_rows(measure).set_index("provider_id")
            if self.provider_id not in rows.index:
                continue
            r = rows.loc[self.provider_id]
            out.append(
                {
                    "Mål": view.data.measure_label(measure),
                    "Forløb i grundlaget": count_text(as_number(r["n"]), view.rule),
                    "Leverandøren": row_rate_text(r),
                    "Området": rate_text(as_number(r["area_rate"])),
                    "Området uden leverandøren": rate_text(as_number(r["area_rate_excl_provider"])),
                }
            )
        return pd.DataFrame(out)

    def state_lines(self, view: AreaView) -> list[str]:
        """The proposed state of both models with the reason sentence, and an override."""
        lines = []
        for model in (Model.SOFT, Model.HARD):
            name = view.model_name(model)
            found = view.decision_of(model, self.provider_id)
            if found is None:
                lines.append(f"{name}: intet forslag for måneden (kør provmon decide).")
                continue
            row = found.to_dict()
            lines.append(
                f"{name}: {row['state_label']}. {view.reason({**row, 'provider_id': self.provider_id})}"
            )
            if isinstance(row.get("override_state"), str) and row["override_state"]:
                lines.append(
                    f"Opfølgningsmødet har besluttet {row['state_label']}: {row.get('override_reason')}"
                )
        return lines

    def next_step(self, view: AreaView) -> list[str]:
        """What it would take to move up one state, in each model."""
        return [
            next_step_soft(view, self.provider_id),
            next_step_hard(view, self.provider_id),
        ]

    def trend(self, view: AreaView) -> go.Figure:
        return view.trend()

    def cusum(self, view: AreaView) -> go.Figure:
        """The early-warning chart with the provider's own line and h only: another
        provider's S would reveal its results (outputs.md, disclosure between providers)."""
        return view.cusum(self.provider_id)

    def flow(self, view: AreaView) -> go.Figure:
        title = f"{self.provider_name}: forløb pr. måned"
        return charts.flow_trend_chart(view.flow_of(self.provider_id), view.rule, title)


def dialogue_page(
    marts_dir: str | Path,
    month: str | None,
    provider: str,
    name_providers: bool = False,
    quality_file: str | None = None,
    warehouse: str | None = None,
) -> DialoguePage:
    """The dialogue meeting's page of one provider, over every tender area it works in."""
    data, config, rules = _load(marts_dir, month, quality_file, warehouse)
    names = data.provider_names()
    if provider not in names:
        raise ReportInputError(f"unknown provider '{provider}' (known: {', '.join(sorted(names))})")
    areas = data.areas_of(provider)
    if not areas:
        raise ReportInputError(f"provider {provider} has no results in {data.month:%Y-%m}")
    anonymise = config.providers.anonymise_others and not name_providers
    labels = provider_labels(names, provider, anonymise, config.providers.alias_prefix)
    views = [AreaView(data, area, config, rules, labels) for area in areas]
    return DialoguePage(provider, names[provider], views, named=not anonymise)


# --- what it takes to move up one state ---------------------------------------------------------


def successes_needed(n: int, successes: int, area_rate: float, level: float) -> int:
    """Additional successes among the same n that lift the provider's unadjusted funnel z-score
    to the `level` limit: the smallest s with (s - n p) / sqrt(n p (1 - p)) >= -z, as the soft
    model's funnel z-score is computed (metrics.md "Funnel plot")."""
    p = area_rate
    bar = n * p - two_sided_z(level) * math.sqrt(n * p * (1 - p))
    return max(0, math.ceil(bar - 1e-9) - successes)


def next_step_soft(view: AreaView, provider_id: str) -> str:
    name = view.model_name(Model.SOFT)
    row = view.decision_of(Model.SOFT, provider_id)
    if row is None:
        return f"{name}: ingen vurdering for måneden."
    area = view.rules.area(view.area)
    state = str(row["state"])
    recover = area.soft.recover_months
    level = view.data.parameters.warning_level
    if state == SOFT_ORDER[0].value:
        head = f"{name}: leverandøren er i den bedste tilstand ({row['state_label']})."
        return _joined(head, _keep_within(view, provider_id, level))
    better = SOFT_ORDER[SOFT_ORDER.index(state) - 1]
    ok_streak = int(as_number(row.get("ok_streak")) or 0)
    left = max(recover - ok_streak, 1)
    text = (
        f"{name}: for at komme fra {row['state_label']} til {area.label(Model.SOFT, better)} skal "
        f"resultaterne ligge inden for {_limit(level)} {left} måned{'er' if left != 1 else ''} mere i træk "
        f"({ok_streak} af {recover} er opfyldt)."
    )
    return _joined(text, _keep_within(view, provider_id, level))


def _limit(level: float) -> str:
    """'95 %-grænsen': the funnel limit of a level, as the texts name it."""
    return f"{danish.format_percent(level, trim=True)}-grænsen"


def _joined(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def needed_for_limit(successes: int, expected: float, z: float, level: float) -> int | None:
    """Additional successes among the same referrals that lift the decision's own z-score to
    the `level` limit. z = (O - E) / s with the decision's s (binomial, or the risk model's
    variance with any overdispersion factor), so s = (O - E) / z; None when z cannot give s."""
    if z == 0 or not math.isfinite(z):
        return None
    scale = (successes - expected) / z
    if scale <= 0:
        return None
    bar = expected - two_sided_z(level) * scale
    return max(0, math.ceil(bar - 1e-9) - successes)


def _keep_within(view: AreaView, provider_id: str, level: float) -> str:
    """What the month's evidence says about the warning limit, read from the one evidence
    class of the statistics step (mart_provider_results.evidence of the primary measure) with
    its z-score and expected count: a provider within the limits is told so, never a number of
    results; a count is given only where it is not small."""
    rule = view.rule
    rows = view.month_rows(view.primary).set_index("provider_id")
    if provider_id not in rows.index:
        return ""
    row = rows.loc[provider_id]
    n, successes = as_number(row.get("n")), as_number(row.get("successes"))
    if n is None or successes is None or rule.is_small(n) or rule.is_small(successes):
        return ""
    evidence = str(row.get("evidence"))
    adjusted = str(row.get("adjustment")) == "risk_adjusted"
    basis = "risikojusteret" if adjusted else "uden risikojustering"
    if evidence == "ok":
        return f"Med det nuværende grundlag ligger resultaterne inden for {_limit(level)} ({basis})."
    if evidence not in ("warning", "alarm"):
        return ""
    z, expected = as_number(row.get("z_score")), as_number(row.get("expected"))
    needed = None if z is None or expected is None else needed_for_limit(int(successes), expected, z, level)
    if not needed:
        return ""
    return (
        f"Med det nuværende grundlag på {count_text(n, rule)} forløb skulle {danish.format_int(needed)} "
        f"flere have haft resultat for at ligge inden for {_limit(level)} ({basis})."
    )


def next_step_hard(view: AreaView, provider_id: str) -> str:
    name = view.model_name(Model.HARD)
    row = view.decision_of(Model.HARD, provider_id)
    if row is None:
        return f"{name}: ingen vurdering for måneden."
    area = view.rules.area(view.area)
    single = view.single_other(provider_id)
    if str(row["state"]) != "STOP":
        threshold = None if single else as_number(row.get("threshold"))
        bar = f" (grænse {danish.format_percent(threshold)})" if threshold is not None else ""
        ratio = danish.format_percent(area.hard.stop_ratio, trim=True)
        return (
            f"{name}: {row['state_label']}; resultatandelen skal fortsat være mindst {ratio} "
            f"af områdets andel uden leverandøren{bar} (antaget tærskel, sat af forvaltningen)."
        )
    rule = view.rule
    threshold = as_number(row.get("threshold"))
    closed = as_number(row.get("cohort_closed"))
    bar = (
        f"{danish.format_percent(area.hard.stop_ratio, trim=True)} af områdets andel uden leverandøren"
        if single
        else danish.format_percent(threshold)
    )
    return (
        f"{name}: stoppet ophæves, når mindst {area.hard.min_lift_n} af de forløb, der var i gang "
        f"ved stoppet, er vurderet – med et registreret resultat eller afsluttet uden (nu "
        f"{count_text(closed, rule)}) – og deres resultatandel er mindst {bar} (antaget tærskel, "
        "sat af forvaltningen)."
    )
