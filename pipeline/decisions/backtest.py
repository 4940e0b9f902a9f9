"""Back-test: replay both models month by month over a period (decisions.md, "Back-test").

The driver is a pure function over a sequence of month inputs, each holding only what was known
at that month's as-of date; the decisions of a month depend on that month's input and on the
months before it, never on a later one. No overrides are replayed unless the inputs carry them.

Per model it reports provider-months in each state, the number of state changes, and the
referrals that would have been moved: per area and month, the referrals the model's allocation
sends to other providers compared with an allocation where every provider has its full share."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from pipeline.decisions.allocation import allocate
from pipeline.decisions.engine import Key, Memory, MonthInput, ProviderMemory, decide_month, decisions_frame
from pipeline.decisions.errors import DecisionInputError
from pipeline.decisions.reasons import Templates
from pipeline.decisions.rules import Model, Rules
from pipeline.months import month_start, next_month

STATE_COLUMNS = ["model", "state", "provider_months"]
SUMMARY_COLUMNS = ["model", "months", "provider_months", "state_changes", "referrals_moved"]


@dataclass(frozen=True)
class BacktestResult:
    decisions: pd.DataFrame  # mart_booking_decisions rows for every month and both models
    states: pd.DataFrame  # STATE_COLUMNS
    summary: pd.DataFrame  # SUMMARY_COLUMNS, one row per model
    moved: pd.DataFrame  # month, model, tender_area, referrals_moved
    memory: dict[Key, ProviderMemory]  # where the month after the last one would start


def _moved(rows: pd.DataFrame, month_input: MonthInput) -> list[dict[str, object]]:
    """Referrals per area that the model's allocation moves away from providers, this month."""
    out = []
    for model, decided in rows.groupby("model"):
        full = decided.assign(share=1.0)
        with_model = allocate(decided, month_input.volumes, month_input.capacity).providers
        baseline = allocate(full, month_input.volumes, month_input.capacity).providers
        gap = (baseline["expected_referrals"] - with_model["expected_referrals"]).clip(lower=0)
        per_area = gap.groupby(baseline["tender_area"]).sum(min_count=1)
        for area, value in per_area.items():
            out.append(
                {"month": month_input.month, "model": model, "tender_area": area, "referrals_moved": value}
            )
    return out


def _check_consecutive(previous: MonthInput | None, current: MonthInput) -> None:
    if previous is not None and month_start(current.month) != next_month(previous.month):
        raise DecisionInputError(
            f"back-test months must follow each other: {month_start(current.month):%Y-%m} "
            f"came after {month_start(previous.month):%Y-%m}"
        )


def _summary(decisions: pd.DataFrame, moved: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    states = decisions.groupby(["model", "state"]).size().rename("provider_months").reset_index()
    changed = decisions["previous_state"].notna() & (decisions["state"] != decisions["previous_state"])
    summary = []
    for model in Model:
        mine = decisions["model"] == model.value
        moved_model = moved.loc[moved["model"] == model.value, "referrals_moved"]
        summary.append(
            {
                "model": model.value,
                "months": decisions.loc[mine, "month"].nunique(),
                "provider_months": int(mine.sum()),
                "state_changes": int((changed & mine).sum()),
                "referrals_moved": moved_model.sum(skipna=False) if len(moved_model) else math.nan,
            }
        )
    return states[STATE_COLUMNS], pd.DataFrame(summary, columns=SUMMARY_COLUMNS)


def backtest(
    months: Iterable[MonthInput], rules: Rules, templates: Templates, memory: Memory | None = None
) -> BacktestResult:
    """Replay both models over consecutive months, starting from `memory` (default: every
    provider GREEN/OPEN when first seen)."""
    carried = dict(memory or {})
    frames, moved = [], []
    previous: MonthInput | None = None
    for month_input in months:
        _check_consecutive(previous, month_input)
        result = decide_month(month_input, carried, rules, templates)
        rows = decisions_frame(result.rows)
        frames.append(rows)
        moved += _moved(rows, month_input)
        carried, previous = result.memory, month_input
    if not frames:
        raise DecisionInputError("the back-test period has no months")
    decisions = pd.concat(frames, ignore_index=True)
    moved_frame = pd.DataFrame(moved, columns=["month", "model", "tender_area", "referrals_moved"])
    states, summary = _summary(decisions, moved_frame)
    return BacktestResult(decisions, states, summary, moved_frame, carried)
