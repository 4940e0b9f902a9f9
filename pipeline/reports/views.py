"""One tender area (or one provider) of one month, as the reports show it: the protected
numbers, the provider labels and the decision rows, built once and then asked for tables and
charts. The notebooks only call these methods and display what they return.

Both notebooks share AreaView: the follow-up meeting looks at an area with every provider
named; the dialogue meeting looks at the same area through one provider's eyes, with the
others anonymised (labels decide that, nothing else differs)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import pandas as pd
import plotly.graph_objects as go

from pipeline import danish
from pipeline.decisions.rules import Model, Rules
from pipeline.reports import charts
from pipeline.reports.config import ReportConfig
from pipeline.reports.data import ReportData
from pipeline.reports.disclosure import as_number, count_text, protect_counts, protect_results, reason_text

AREA = "Området i alt"
# The early-warning chart explained (decisions.md "Early warning"), for both meetings.
CUSUM_TEXT = (
    "Tidlig varsling er en risikojusteret CUSUM pr. leverandør på områdets primære mål "
    "({measure}). Hvert forløb lægger til S, når det ender uden resultat, og trækker fra, når det "
    "ender med et, vægtet efter hvor sandsynligt et resultat var for netop den borger. Når S når "
    "grænsen h, gives et signal, og S starter forfra. Et signal flytter en leverandør fra normal "
    "til skærpet opfølgning med handlingsplan, men ændrer aldrig antallet af nye henvisninger."
)
CUSUM_MISSING = "Tidlig varsling er ikke beregnet for måneden: kør provmon build."
# The action plan's status (decisions.md: YELLOW requires a written plan, an override records it).
PLAN_AWAITED = "afventer"


def action_plan_text(decision: dict, rules: Rules) -> str:
    """The action plan of a decision row as the reports show it: empty where the state in
    force needs none, "afventer" until an override records it received, else the day.
    Decisions stored before the row said so fall back to the state's rule (rules.yaml)."""
    required = decision.get("action_plan_required")
    if required is None or (isinstance(required, float) and math.isnan(required)):
        area = rules.area(int(decision["tender_area"]))
        required = area.action_plan(Model(str(decision["model"])), str(decision["state"]))
    if not bool(required):
        return ""
    received = decision.get("action_plan_received")
    if received is None or pd.isna(received):
        return PLAN_AWAITED
    return f"modtaget {danish.format_date(pd.Timestamp(received).date(), long=True)}"


def assumed_threshold_text(rules: Rules, areas: list[int]) -> str:
    """Model A's threshold labelled as what it is (decisions.md): an assumption the
    administration sets, not a documented practice. Said wherever model A's proposals are
    shown, also where no reason sentence quotes the threshold (e.g. too few referrals)."""
    ratios = sorted({rules.area(a).hard.stop_ratio for a in areas})
    shown = " eller ".join(danish.format_percent(r, trim=True) for r in ratios)
    return (
        f"{rules.model_name(Model.HARD)}: bookingstop ved en resultatandel under {shown} af "
        "områdets andel uden leverandøren er en antaget tærskel, som forvaltningen fastsætter; "
        "forvaltningens beskrivelse af bookingstoppet angiver ingen tærskel."
    )


def measure_applies(config: ReportConfig, measure: str, area: int) -> bool:
    """Does the measure belong in the area's reports? The raskmelding measures only where
    sections.fit_areas says so, the rehabilitation measures only in sections.rehab_areas: a
    sickness measure in an area of unemployed has (almost) no population, and its 0,0 % would
    read as a result."""
    if measure in config.measures.fit:
        return area in config.sections.fit_areas
    if measure in config.measures.rehab:
        return area in config.sections.rehab_areas
    return True


def in_measure_order(data: ReportData, measures: list[str]) -> list[str]:
    """The measures once each, in dim_measures' sort_order (sustainability after 3, 6 and 12
    months together), the one order of every table and workbook."""
    order = data.measures.set_index("measure")["sort_order"].to_dict()
    unique = list(dict.fromkeys(measures))
    return sorted(unique, key=lambda m: (order.get(m, 10_000), unique.index(m)))


def row_rate_text(row: pd.Series | None) -> str:
    """A mart row's rate with its Wilson interval, as rate_text shows it."""
    if row is None:
        return danish.MISSING
    return rate_text(*(as_number(row.get(c)) for c in ("rate", "rate_low", "rate_high")))


def adjusted_rate_text(row: pd.Series | None) -> str:
    """The risk-adjusted rate with its 95 % interval (O/E interval × area rate), as the soft
    model's evidence is read: '23,4 % (12,1–26,4 %)'."""
    if row is None:
        return danish.MISSING
    return rate_text(
        *(
            as_number(row.get(c))
            for c in ("risk_adjusted_rate", "risk_adjusted_rate_low", "risk_adjusted_rate_high")
        )
    )


def rate_text(rate: float | None, low: float | None = None, high: float | None = None) -> str:
    """'23,4 % (12,1–26,4 %)', the interval left out where there is none; '–' when blanked."""
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return danish.MISSING
    interval = danish.format_percent_range(low, high)
    return danish.format_percent(rate) + ("" if interval == danish.MISSING else f" ({interval})")


@dataclass
class AreaView:
    """A tender area in the report month, with the given provider labels."""

    data: ReportData
    area: int
    config: ReportConfig
    rules: Rules
    labels: dict[str, str]

    # --- the numbers -------------------------------------------------------------------------

    @property
    def rule(self):
        return self.config.disclosure

    @property
    def name(self) -> str:
        return self.rules.area(self.area).name

    @property
    def title(self) -> str:
        return f"Udbudsområde {self.area}: {self.name}"

    @property
    def primary(self) -> str:
        return self.rules.area(self.area).primary_measure

    @cached_property
    def results(self) -> pd.DataFrame:
        """Protected mart rows of this area, all months up to the report month."""
        rows = self.data.results[self.data.results["tender_area"] == self.area]
        return protect_results(rows, self.rule)

    def month_rows(self, measure: str, month: pd.Timestamp | None = None) -> pd.DataFrame:
        when = pd.Timestamp(month or self.data.month)
        rows = self.results
        return rows[(rows["as_of_month"] == when) & (rows["measure"] == measure)]

    def trend_rows(self, measure: str) -> pd.DataFrame:
        first = pd.Timestamp(self.data.month) - pd.DateOffset(months=self.config.months.trend - 1)
        rows = self.results
        return rows[(rows["measure"] == measure) & (rows["as_of_month"] >= first)]

    @property
    def providers(self) -> list[str]:
        return self.data.providers_in(self.area)

    @cached_property
    def colour_map(self) -> dict[str, str]:
        """provider_id -> colour, from every area of the month: the same in every document."""
        return charts.provider_colours({a: self.data.providers_in(a) for a in self.data.areas()})

    def applies(self, measure: str) -> bool:
        """Is the measure shown for this area (measure_applies, and the area has a base)?"""
        if not measure_applies(self.config, measure, self.area):
            return False
        rows = self.month_rows(measure)
        return not rows.empty and bool((pd.to_numeric(rows["area_n"], errors="coerce").fillna(0) > 0).any())

    def measures_shown(self, measures: list[str]) -> list[str]:
        """The given measures that apply to the area, in the fixed measure order."""
        return [m for m in in_measure_order(self.data, measures) if self.applies(m)]

    def single_other(self, provider_id: str, month: pd.Timestamp | None = None) -> bool:
        """Is the area without this provider a single other provider (its primary measure)?"""
        rows = self.month_rows(self.primary, month)
        found = rows.loc[rows["provider_id"] == provider_id, "area_excl_single"]
        return bool(found.any()) if len(found) else False

    def reason(self, decision: dict) -> str:
        """A decision's reason as shown: disclosure-controlled, with figures about the others
        withheld where they are one other provider's."""
        month = pd.Timestamp(decision["month"]) if decision.get("month") is not None else None
        return reason_text(decision, self.rule, self.single_other(str(decision["provider_id"]), month))

    def label(self, provider_id: str) -> str:
        return self.labels.get(provider_id, provider_id)

    def model_name(self, model: Model) -> str:
        """The model's one Danish name (rules.yaml model_names)."""
        return self.rules.model_name(model)

    @cached_property
    def decisions(self) -> pd.DataFrame:
        rows = self.data.decisions
        return rows[rows["tender_area"] == self.area] if len(rows) else rows

    def decisions_of(self, model: Model, month: pd.Timestamp | None = None) -> pd.DataFrame:
        rows = self.decisions
        if rows.empty:
            return rows
        when = pd.Timestamp(month or self.data.month)
        return rows[(rows["model"] == model.value) & (rows["month"] == when)].set_index("provider_id")

    def decision_of(self, model: Model, provider_id: str) -> pd.Series | None:
        """The provider's decision row of the month in one model, or None."""
        rows = self.decisions_of(model)
        return rows.loc[provider_id] if provider_id in rows.index else None

    @property
    def has_decisions(self) -> bool:
        return not self.decisions_of(Model.SOFT).empty

    def adjusted(self, measure: str) -> bool:
        """Did the risk model fit for this area, measure and month (so the funnel uses it)?"""
        rows = self.month_rows(measure)
        if "adjustment_status" not in rows:
            return False
        return bool((rows["adjustment_status"] == "adjusted").any())

    # --- tables ------------------------------------------------------------------------------

    def _state(self, decisions: pd.DataFrame, provider_id: str) -> str:
        if provider_id not in decisions.index:
            return danish.MISSING
        return str(decisions.loc[provider_id, "state_label"])

    def overview(self) -> pd.DataFrame:
        """Every provider of the area with the month's measures, intervals and both models'
        proposals: the first table of the follow-up meeting."""
        primary = self.month_rows(self.primary).set_index("provider_id")
        soft, hard = self.decisions_of(Model.SOFT), self.decisions_of(Model.HARD)
        others = [m for m in self.measures_shown(self.config.measures.overview) if m != self.primary]
        out = []
        for pid in self.providers:
            row = primary.loc[pid] if pid in primary.index else None
            record = {
                "Leverandør": self.label(pid),
                "Forløb i grundlaget": count_text(None if row is None else as_number(row["n"]), self.rule),
                self.data.measure_label(self.primary): row_rate_text(row),
                "Områdets andel uden leverandøren": rate_text(
                    as_number(row["area_rate_excl_provider"]) if row is not None else None
                ),
                "Risikojusteret andel": adjusted_rate_text(row),
            }
            for measure in others:
                rows = self.month_rows(measure).set_index("provider_id")
                record[self.data.measure_label(measure)] = (
                    rate_text(as_number(rows.loc[pid, "rate"])) if pid in rows.index else danish.MISSING
                )
            record[f"Forslag, {self.model_name(Model.SOFT).lower()}"] = self._state(soft, pid)
            record[f"Forslag, {self.model_name(Model.HARD).lower()}"] = self._state(hard, pid)
            out.append(record)
        return pd.DataFrame(out)

    def changes(self) -> pd.DataFrame:
        """What changed since last month: each provider's proposed state and primary rate then
        and now, the providers whose state changed first."""
        before, now = pd.Timestamp(self.data.previous_month), pd.Timestamp(self.data.month)
        rate_then = self.month_rows(self.primary, before).set_index("provider_id")["rate"]
        rate_now = self.month_rows(self.primary, now).set_index("provider_id")["rate"]
        soft_then, soft_now = self.decisions_of(Model.SOFT, before), self.decisions_of(Model.SOFT, now)
        out = []
        for pid in self.providers:
            then, current = as_number(rate_then.get(pid)), as_number(rate_now.get(pid))
            diff = None if then is None or current is None else (current - then) * 100
            state_then, state_now = self._state(soft_then, pid), self._state(soft_now, pid)
            out.append(
                {
                    "Leverandør": self.label(pid),
                    f"Tilstand {danish.format_month(before)}": state_then,
                    f"Tilstand {danish.format_month(now)}": state_now,
                    "Ændret": "ja" if state_then != state_now else "nej",
                    f"Andel {danish.format_month(before)}": rate_text(then),
                    f"Andel {danish.format_month(now)}": rate_text(current),
                    "Ændring (procentpoint)": danish.format_number(diff, 1),
                }
            )
        frame = pd.DataFrame(out)
        return frame.sort_values("Ændret", ascending=False, kind="stable").reset_index(drop=True)

    def decisions_table(self, model: Model) -> pd.DataFrame:
        """The month's proposal per provider with its reason, and a person's override beside it."""
        rows = self.decisions_of(model)
        out = []
        for pid in self.providers:
            if pid not in rows.index:
                continue
            row = rows.loc[pid]
            override = row.get("override_state")
            label = self.rules.area(self.area).label
            out.append(
                {
                    "Leverandør": self.label(pid),
                    "Forslag": self.rules.area(self.area).label(model, str(row["proposed_state"])),
                    "Gældende": str(row["state_label"]),
                    "Begrundelse": self.reason({**row.to_dict(), "provider_id": pid}),
                    "Ændret af mødet": (
                        f"{label(model, str(override))}: {row.get('override_reason')}"
                        if isinstance(override, str) and override
                        else ""
                    ),
                }
            )
        return pd.DataFrame(out)

    def assumed_threshold_note(self) -> str:
        return assumed_threshold_text(self.rules, [self.area])

    def action_plans(self) -> pd.DataFrame:
        """The providers whose state in force requires a written action plan (handlingsplan)
        this month, in either model, and whether the plan was received."""
        out = []
        for model in Model:
            rows = self.decisions_of(model)
            for pid in self.providers:
                if pid not in rows.index:
                    continue
                row = {**rows.loc[pid].to_dict(), "provider_id": pid}
                status = action_plan_text(row, self.rules)
                if status:
                    out.append(
                        {
                            "Leverandør": self.label(pid),
                            "Model": self.model_name(model),
                            "Tilstand": str(row["state_label"]),
                            "Handlingsplan": status,
                        }
                    )
        return pd.DataFrame(out)

    def allocation(self, model: Model = Model.SOFT) -> pd.DataFrame:
        """Recommended new referrals per month per provider (decisions.md, Allocation)."""
        rows = self.data.allocation
        if rows.empty:
            return pd.DataFrame()
        rows = rows[(rows["tender_area"] == self.area) & (rows["model"] == model.value)]
        out = [
            {
                "Leverandør": self.label(str(r["provider_id"])),
                "Tilstand": self.rules.area(self.area).label(model, str(r["state"])),
                "Andel af nye henvisninger": danish.format_percent(as_number(r["allocation_share"])),
                "Henvisninger pr. måned": danish.format_int(as_number(r["referrals_per_month"])),
            }
            for _, r in rows.sort_values("provider_id").iterrows()
        ]
        return pd.DataFrame(out)

    def allocation_note(self, model: Model = Model.SOFT) -> str:
        rows = self.data.allocation
        if rows.empty:
            return "Ingen fordeling af nye henvisninger for måneden: kør provmon decide."
        rows = rows[(rows["tender_area"] == self.area) & (rows["model"] == model.value)]
        if rows.empty:
            return "Ingen fordeling af nye henvisninger for området i måneden."
        first = rows.iloc[0]
        volume = as_number(first.get("area_expected_volume"))
        text = (
            f"Forventet antal nye henvisninger i området: {danish.format_number(volume, 1)} pr. måned "
            "(gennemsnit af de seneste måneder)."
        )
        note = first.get("area_note")
        return f"{text} {note}" if isinstance(note, str) and note else text

    def rates_table(self, measures: list[str]) -> pd.DataFrame:
        """Per provider and measure: n and rate with interval, and the area's rate."""
        out = []
        for measure in self.measures_shown(measures):
            rows = self.month_rows(measure).set_index("provider_id")
            adjusted = self.adjusted(measure)
            for pid in self.providers:
                if pid not in rows.index:
                    continue
                r = rows.loc[pid]
                record = {
                    "Mål": self.data.measure_label(measure),
                    "Leverandør": self.label(pid),
                    "Forløb i grundlaget": count_text(as_number(r["n"]), self.rule),
                    "Andel": row_rate_text(r),
                }
                if adjusted:
                    record["Risikojusteret andel"] = adjusted_rate_text(r)
                record["Området"] = rate_text(as_number(r["area_rate"]))
                out.append(record)
        return pd.DataFrame(out)

    # --- purpose achievement, attendance and efterværn (issue 16) ----------------------------

    def has_adjustment(self, measure: str) -> bool:
        """Did the build risk-adjust this measure in the area and month? Then its table shows
        the risk-adjusted rate with its interval beside the crude one."""
        rows = self.month_rows(measure)
        return "adjustment_status" in rows and bool((rows["adjustment_status"] == "adjusted").any())

    def measure_table(self, measure: str) -> pd.DataFrame:
        """One measure per provider against the area: n, the rate with its Wilson interval (a
        mean, for a continuous measure such as the mentor attendance rate), the risk-adjusted
        rate with its interval where the build made one, and the area's figure. Empty when the
        measure does not apply to the area or has no base in it."""
        if not self.applies(measure):
            return pd.DataFrame()
        rows = self.month_rows(measure).set_index("provider_id")
        label = self.data.measure_label(measure)
        adjusted = self.has_adjustment(measure)
        out = []
        for pid in self.providers:
            if pid not in rows.index:
                continue
            r = rows.loc[pid]
            mean = str(r.get("measure_kind")) == "continuous"
            record = {
                "Leverandør": self.label(pid),
                "Forløb i grundlaget": count_text(as_number(r["n"]), self.rule),
                label: rate_text(as_number(r["value_mean"])) if mean else row_rate_text(r),
            }
            if adjusted:
                record["Risikojusteret andel"] = adjusted_rate_text(r)
            record["Området"] = rate_text(as_number(r["area_value_mean" if mean else "area_rate"]))
            out.append(record)
        return pd.DataFrame(out)

    def purpose_table(self) -> pd.DataFrame:
        """Resultatmål opnået: results that fit the purpose set at booking."""
        return self.measure_table(self.config.measures.purpose)

    def attendance_tables(self) -> list[pd.DataFrame]:
        """Fremmøde: the share with stable attendance, and the mean attendance rate of the
        mentor offers, each its own table (their bases differ)."""
        measures = self.config.measures
        return [self.measure_table(measures.attendance), self.measure_table(measures.mentor_attendance)]

    def aftercare_table(self) -> pd.DataFrame:
        """Efterværn on its own line: retention after aftercare, never part of another base."""
        return self.measure_table(self.config.measures.aftercare)

    def cost_table(self) -> pd.DataFrame:
        rows = self.month_rows(self.config.measures.cost).set_index("provider_id")
        out = []
        for pid in self.providers:
            if pid not in rows.index:
                continue
            r = rows.loc[pid]
            out.append(
                {
                    "Leverandør": self.label(pid),
                    "Afsluttede forløb": count_text(as_number(r["n"]), self.rule),
                    "Resultater": count_text(as_number(r["successes"]), self.rule),
                    "Pris pr. resultat": _kroner(as_number(r["value_mean"])),
                    "Området": _kroner(as_number(r["area_value_mean"])),
                }
            )
        return pd.DataFrame(out)

    def rehab_types(self) -> pd.DataFrame:
        """Grants per type per provider (counts, small ones as "<5")."""
        rows = self.data.rehab_types
        rows = rows[rows["tender_area"] == self.area]
        if rows.empty:
            return pd.DataFrame()
        wide = rows.pivot_table(
            index="provider_id", columns="rehab_grant_type", values="referrals", aggfunc="sum", fill_value=0
        )
        out = pd.DataFrame({"Leverandør": [self.label(str(p)) for p in wide.index]})
        for grant, name in GRANT_TYPES.items():
            values = wide[grant] if grant in wide else pd.Series(0, index=wide.index)
            out[name] = [count_text(v, self.rule) for v in values]
        return out

    # --- chart inputs --------------------------------------------------------------------------

    def flow_month(self) -> pd.DataFrame:
        flow = self.data.flow
        rows = flow[(flow["tender_area"] == self.area) & (flow["month"] == pd.Timestamp(self.data.month))]
        return protect_counts(rows, ("ongoing", "ended_base"), self.rule)

    def flow_of(self, provider_id: str) -> pd.DataFrame:
        flow = self.data.flow
        rows = flow[(flow["tender_area"] == self.area) & (flow["provider_id"] == provider_id)]
        return protect_counts(rows, ("started", "ended", "ongoing"), self.rule)

    def progression_rows(self) -> pd.DataFrame:
        rows = self.data.progression
        return rows[rows["tender_area"] == self.area]

    def cusum_rows(self, provider_id: str | None = None) -> pd.DataFrame:
        """The early-warning chart (fct_provider_cusum) of the area over the trend months up
        to the report month: every provider of the area in the month, or only `provider_id`
        (a provider's dashboard shows its own line and no other provider's)."""
        rows = self.data.cusum
        if rows.empty:
            return rows
        first = pd.Timestamp(self.data.month) - pd.DateOffset(months=self.config.months.trend - 1)
        shown = [provider_id] if provider_id is not None else self.providers
        keep = (
            (rows["tender_area"].astype(int) == self.area)
            & (rows["as_of_month"] >= first)
            & rows["provider_id"].astype(str).isin(shown)
        )
        return rows[keep].reset_index(drop=True)

    def cusum_table(self) -> pd.DataFrame:
        """Per provider: S at the month's end, the area's h, a signal in the month, and the
        last month with a signal within the trend months (the follow-up meeting's table)."""
        rows = self.cusum_rows()
        if rows.empty:
            return pd.DataFrame()
        month = pd.Timestamp(self.data.month)
        out = []
        for pid in self.providers:
            part = rows[rows["provider_id"].astype(str) == pid]
            now = part[part["as_of_month"] == month]
            if now.empty:
                continue
            r = now.iloc[0]
            signalled = part.loc[part["signal"].fillna(False).astype(bool), "as_of_month"]
            out.append(
                {
                    "Leverandør": self.label(pid),
                    "S ved månedens udgang": danish.format_number(as_number(r["s"]), 2),
                    "Grænse h": danish.format_number(as_number(r["h"]), 2),
                    "Signal i måneden": "ja" if bool(r["signal"]) else "nej",
                    "Seneste signal": danish.format_month(signalled.max()) if len(signalled) else "intet",
                }
            )
        return pd.DataFrame(out)

    def cusum_note(self) -> str:
        """What the chart is, what a signal does, and h with its simulated false-signal rate."""
        rows = self.cusum_rows()
        if rows.empty:
            return CUSUM_MISSING
        measure = self.data.measure_label(self.primary).lower()
        now = rows[rows["as_of_month"] == pd.Timestamp(self.data.month)]
        text = CUSUM_TEXT.format(measure=measure)
        if now.empty:
            return text
        h, rate = as_number(now["h"].iloc[0]), as_number(now["false_signal_rate"].iloc[0])
        per = (
            f"ét falsk signal pr. {danish.format_number(1 / rate, 0)} måneder"
            if rate
            else "ingen falske signaler"
        )
        return (
            f"{text} Grænsen h = {danish.format_number(h, 2)} i {danish.format_month(self.data.month)} "
            f"er sat ved simulering ud fra områdets egne forventede sandsynligheder og omfang: en "
            f"leverandør med præcis de forventede resultater giver da i gennemsnit {per} (simuleret)."
        )

    def reasons(self, decisions: pd.DataFrame) -> list[str]:
        return [self.reason(r) for r in decisions.to_dict("records")]

    # --- charts ------------------------------------------------------------------------------

    def measure_labels(self) -> dict[str, str]:
        return {m: self.data.measure_label(m) for m in self.data.measures["measure"]}

    def trend(self, measure: str | None = None) -> go.Figure:
        measure = measure or self.primary
        label = self.data.measure_label(measure)
        return charts.trend_chart(
            self.trend_rows(measure), self.labels, self.rule, f"Udvikling: {label}", "Andel", self.colour_map
        )

    def funnel(self, measure: str | None = None) -> go.Figure:
        measure = measure or self.primary
        adjusted = self.adjusted(measure)
        kind = "risikojusteret" if adjusted else "ikke risikojusteret"
        title = (
            f"Tragtplot, {danish.format_month(self.data.month)}: {self.data.measure_label(measure)} ({kind})"
        )
        return charts.funnel_chart(
            self.month_rows(measure),
            self.labels,
            self.rule,
            title,
            adjusted,
            self.data.parameters.funnel,
            self.colour_map,
        )

    def funnel_note(self, measure: str | None = None) -> str:
        """Whether the funnel is risk-adjusted and whether overdispersion was corrected."""
        rows = self.month_rows(measure or self.primary)
        adjusted = (
            "risikojusteret (forventet antal fra områdets risikomodel)"
            if self.adjusted(measure or self.primary)
            else "ikke risikojusteret (risikomodellen kunne ikke bruges; sammenligning med områdets andel)"
        )
        corrected = charts.applied_phi(rows) != 1.0
        phi = "korrigeret for overspredning" if corrected else "ikke korrigeret for overspredning"
        warning, alarm = (
            danish.format_percent(level, trim=True)
            for level in (self.data.parameters.warning_level, self.data.parameters.alarm_level)
        )
        return f"Tragtplottet er {adjusted} og {phi}. Grænserne er {warning} og {alarm}."

    def sustainability(self) -> go.Figure:
        return self._rate_bars(self.config.measures.sustainability, "Bæredygtighed: fortsat i arbejde")

    def self_support(self) -> go.Figure:
        return self._rate_bars(self.config.measures.self_supporting, "Selvforsørgelse efter første jobmåned")

    def fit(self) -> go.Figure:
        return self._rate_bars(self.config.measures.fit, "Raskmeldinger inden for 6 måneder")

    def rehab(self) -> go.Figure:
        return self._rate_bars(self.config.measures.rehab, "Bevillinger fra rehabiliteringsteamet")

    def _rate_bars(self, measures: list[str], title: str) -> go.Figure:
        measures = self.measures_shown(measures)
        rows = self.results[
            (self.results["as_of_month"] == pd.Timestamp(self.data.month))
            & self.results["measure"].isin(measures)
        ]
        title = f"{title}, {danish.format_month(self.data.month)}"
        return charts.rate_bars(rows, measures, self.measure_labels(), self.labels, self.rule, title)

    def progression(self) -> go.Figure:
        rows = self.data.progression.drop_duplicates("band").sort_values("band")
        bands = [str(label) for label in rows["band_label"]]
        title = f"Progression i lønnede timer pr. måned, {danish.format_month(self.data.month)}"
        return charts.progression_chart(self.progression_rows(), bands, self.labels, self.rule, title)

    def cost(self) -> go.Figure:
        rows = self.month_rows(self.config.measures.cost)
        title = f"Pris pr. resultat, {danish.format_month(self.data.month)}"
        return charts.value_bars(rows, self.labels, self.rule, title, "Kroner pr. resultat", "kr.")

    def flow(self) -> go.Figure:
        title = f"Forløb i gang og afsluttede, {danish.format_month(self.data.month)}"
        return charts.flow_chart(
            self.flow_month(), self.labels, self.rule, title, self.data.parameters.rolling_months
        )

    def cusum(self, provider_id: str | None = None) -> go.Figure:
        """The early-warning chart: S over time with h, every provider of the area or, on a
        provider's dashboard, only its own line."""
        label = self.data.measure_label(self.primary)
        title = f"Tidlig varsling: risikojusteret CUSUM, {label}"
        return charts.cusum_chart(self.cusum_rows(provider_id), self.labels, title, self.colour_map)

    def states(self, model: Model = Model.SOFT) -> go.Figure:
        rows = self.decisions
        if not rows.empty:
            first = pd.Timestamp(self.data.month) - pd.DateOffset(months=self.config.months.trend - 1)
            rows = rows[(rows["model"] == model.value) & (rows["month"] >= first)]
        area = self.rules.area(self.area)
        order = list(type(area.states(model)).model_fields)
        names = {s: area.label(model, s) for s in order}
        title = f"Bookingtilstande over tid ({self.model_name(model).lower()})"
        return charts.states_chart(
            rows, self.labels, order, names, self.config.state_colours, self.reasons(rows), title
        )


GRANT_TYPES = {
    "flex_job": "Fleksjob",
    "disability_pension": "Førtidspension",
    "resource_course": "Ressourceforløb",
}


def _kroner(value: float | None) -> str:
    return danish.MISSING if value is None else f"{danish.format_int(value)} kr."
