"""The Danish reason sentence of a decision, from templates in reasons.yaml.

The wording is data (a sentence can be improved without touching the state machine); the
numbers are filled in formatted by pipeline.danish, so the sentence shows the rate, interval,
area rate, n and months in a row exactly as the reports show them."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from pipeline import danish
from pipeline.decisions.evidence import Basis
from pipeline.decisions.hard import HardMove, LiftCohort
from pipeline.decisions.inputs import ProviderMonth
from pipeline.decisions.rules import REASONS_FILE, Model, read_yaml, validated
from pipeline.decisions.soft import SoftMove, StateCohort
from pipeline.stats.config import two_sided_z

TEMPLATES_FILE = REASONS_FILE

# Every placeholder a template may use; reasons.yaml is checked against this on load.
FIELDS = frozenset(
    {
        "measure_part",
        "next_part",
        "alarm_limit",
        "measure",
        "measure_lower",
        "rate",
        "interval",
        "adjusted_rate",
        "adjusted_interval",
        "comparator",
        "area_rate",
        "n",
        "min_n",
        "limit",
        "z",
        "limit_z",
        "in_a_row",
        "ok_in_a_row",
        "ok_months",
        "recover_months",
        "from_label",
        "to_label",
        "state_label",
        "next_label",
        "stop_ratio",
        "threshold",
        "stop_month",
        "cohort_size",
        "cohort_closed",
        "cohort_with_result",
        "cohort_failures",
        "cohort_rate",
        "min_lift_n",
        "next_month",
        "state_since",
        "state_cohort_judged",
        "state_cohort_successes",
        "state_cohort_expected",
        "state_cohort_lower",
        "months_in_state",
        "cusum_s",
        "cusum_h",
    }
)
# The sentences each model needs: one per move, and for an insufficient month also the case
# where the area has no other provider to compare with.
NO_COMPARATOR = "no_comparator"
# A provider new in the area, with no mature referral yet (decisions.md, agreement periods).
NEW_PROVIDER = "new_provider"
MOVES: dict[Model, frozenset[str]] = {
    Model.SOFT: frozenset({*(m.value for m in SoftMove), NO_COMPARATOR, NEW_PROVIDER}),
    Model.HARD: frozenset({*(m.value for m in HardMove), NO_COMPARATOR, NEW_PROVIDER}),
}


# Fields that are sentences of their own (render), and the templates they are made from, which
# may not use them.
COMPOSED = frozenset({"measure_part", "next_part"})
PARTS = frozenset({"measure", "measure_adjusted", "next_below", "next_below_capped"})


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


class Templates(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    measure: str
    measure_adjusted: str
    # What another month below the warning limit brings ({next_part}): where warnings still
    # step up, and where they step no further (rules.yaml warning_up_to).
    next_below: str
    next_below_capped: str
    # Added to the sentence of the month in which the provider's last agreement ends.
    agreement_ends: str
    soft: dict[str, str]
    hard: dict[str, str]

    @model_validator(mode="after")
    def _complete_and_known(self) -> Templates:
        for model, moves in MOVES.items():
            given = set(self.sentences(model))
            if given != moves:
                missing, extra = sorted(moves - given), sorted(given - moves)
                raise ValueError(f"{model.value}: sentences missing {missing}, unknown {extra}")
        named = {
            "measure": self.measure,
            "measure_adjusted": self.measure_adjusted,
            "next_below": self.next_below,
            "next_below_capped": self.next_below_capped,
            "agreement_ends": self.agreement_ends,
        }
        named |= {f"{m.value}.{k}": v for m in MOVES for k, v in self.sentences(m).items()}
        for where, text in named.items():
            allowed = FIELDS - COMPOSED if where in PARTS else FIELDS
            unknown = placeholders(text) - allowed
            if unknown:
                raise ValueError(f"{where}: unknown placeholder(s) {sorted(unknown)}")
        return self

    def sentences(self, model: Model) -> dict[str, str]:
        return self.soft if model == Model.SOFT else self.hard


def load_templates(file: Path = TEMPLATES_FILE) -> Templates:
    """Read and check the sentence templates; ConfigError with one line if they are bad."""
    _, data = read_yaml(Path(file))
    return validated(Templates, data, Path(file))


def _lower(label: str | None) -> str:
    return label[0].lower() + label[1:] if label else danish.MISSING


def _in_a_row(count: int) -> str:
    return f" for {danish.ordinal(count)} måned i træk" if count >= 2 else ""


@dataclass(frozen=True)
class ReasonFacts:
    """The numbers and labels a reason sentence may show, unformatted."""

    row: ProviderMonth
    measure_label: str
    min_n: int
    state_label: str
    basis: Basis | None = None
    limit: float | None = None  # the funnel level the provider fell below, or stayed within
    alarm_limit: float | None = None  # the funnel's alarm level
    # Warnings step no further than the sentence's state (warning_up_to): only an alarm does.
    warning_capped: bool = False
    z: float | None = None  # the funnel z-score the evidence was classified on
    from_label: str | None = None
    to_label: str | None = None
    next_label: str | None = None
    below_streak: int = 0
    ok_streak: int = 0
    recover_months: int | None = None
    stop_ratio: float | None = None
    threshold: float | None = None
    stop_month: date | None = None
    cohort: LiftCohort | None = None
    min_lift_n: int | None = None
    next_month: date | None = None
    state_since: date | None = None
    state_cohort: StateCohort | None = None
    state_cohort_lower: float | None = None
    months_in_state: int | None = None

    def texts(self) -> dict[str, str]:
        """Every field of FIELDS but the COMPOSED ones, formatted for a Danish reader."""
        row, cohort = self.row, self.cohort or LiftCohort()
        state = self.state_cohort or StateCohort()
        count = danish.format_int
        return {
            "measure": self.measure_label,
            "measure_lower": _lower(self.measure_label),
            "rate": danish.format_percent(row.observed_rate),
            "interval": danish.format_percent_range(row.wilson_low, row.wilson_high),
            "adjusted_rate": danish.format_percent(row.risk_adjusted_rate),
            "adjusted_interval": danish.format_percent_range(
                row.risk_adjusted_rate_low, row.risk_adjusted_rate_high
            ),
            "comparator": danish.format_percent(row.area_rate_excl_provider),
            "area_rate": danish.format_percent(row.area_rate),
            "n": count(row.n),
            "min_n": count(self.min_n),
            "limit": danish.format_percent(self.limit, trim=True),
            "alarm_limit": danish.format_percent(self.alarm_limit, trim=True),
            "z": danish.format_number(self.z, 2),
            # the funnel limit as a z-score: below it is below the limit (pipeline/stats/funnel.py)
            "limit_z": danish.format_number(-two_sided_z(self.limit), 2) if self.limit else danish.MISSING,
            "in_a_row": _in_a_row(self.below_streak),
            "ok_in_a_row": _in_a_row(self.ok_streak),
            "ok_months": count(self.ok_streak),
            "recover_months": count(self.recover_months),
            "from_label": _lower(self.from_label),
            "to_label": _lower(self.to_label),
            "state_label": _lower(self.state_label),
            "next_label": _lower(self.next_label),
            "stop_ratio": danish.format_percent(self.stop_ratio, trim=True),
            "threshold": danish.format_percent(self.threshold),
            "stop_month": danish.format_month(self.stop_month) if self.stop_month else danish.MISSING,
            "cohort_size": count(cohort.ongoing_at_stop),
            "cohort_closed": count(cohort.closed),
            "cohort_with_result": count(cohort.with_result),
            "cohort_failures": count(cohort.failures),
            "cohort_rate": danish.format_percent(cohort.rate),
            "min_lift_n": count(self.min_lift_n),
            "next_month": danish.format_month(self.next_month) if self.next_month else danish.MISSING,
            "state_since": danish.format_month(self.state_since) if self.state_since else danish.MISSING,
            "state_cohort_judged": count(state.judged),
            "state_cohort_successes": count(state.successes),
            "state_cohort_expected": danish.format_number(state.expected, 1),
            "state_cohort_lower": danish.format_number(self.state_cohort_lower, 1),
            "months_in_state": count(self.months_in_state),
            "cusum_s": danish.format_number(row.cusum_s, 2),
            "cusum_h": danish.format_number(row.cusum_h, 2),
        }


def render(templates: Templates, model: Model, move: str, facts: ReasonFacts) -> str:
    """The Danish sentence for `move` of `model`, with the facts filled in."""
    texts = facts.texts()
    measure = templates.measure_adjusted if facts.basis == Basis.ADJUSTED else templates.measure
    texts["measure_part"] = measure.format_map(texts)
    next_below = templates.next_below_capped if facts.warning_capped else templates.next_below
    texts["next_part"] = next_below.format_map(texts)
    sentence = templates.sentences(model)[move].format_map(texts)
    if facts.row.agreement_ends_in_month:
        sentence += " " + templates.agreement_ends.format_map(texts)
    return sentence
