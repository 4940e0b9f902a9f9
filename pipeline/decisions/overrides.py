"""A person's decision recorded next to the model's proposal (meta.decision_overrides).

The pipeline proposes; the follow-up meeting (opfølgningsmødet) decides. An override says who
decided what, when and why; it is kept beside the proposal, never instead of it, and the next
month's proposal starts from the decided state. In a state that requires a written action plan
(handlingsplan, YELLOW), the override may also record the day the plan was received."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from pipeline.decisions.errors import OverrideError
from pipeline.decisions.rules import AreaRules, HardState, Model, SoftState
from pipeline.months import month_start

# Columns of meta.decision_overrides, in this order.
OVERRIDE_COLUMNS = (
    "month",
    "provider_id",
    "tender_area",
    "model",
    "state",
    "decided_by",
    "decided_at",
    "reason",
    "action_plan_received",
)

_STATES: dict[Model, tuple[str, ...]] = {
    Model.SOFT: tuple(SoftState),
    Model.HARD: tuple(HardState),
}


@dataclass(frozen=True)
class Override:
    month: date  # first day of the decision month
    provider_id: str
    tender_area: int
    model: Model
    state: str  # a state code of the model (GREEN ... RED, OPEN/STOP)
    decided_by: str
    decided_at: datetime
    reason: str
    # The day the state's written action plan (handlingsplan) was received, where recorded.
    action_plan_received: date | None = None

    @property
    def key(self) -> tuple[str, int, Model]:
        return (self.provider_id, self.tender_area, self.model)


def parse_state(text: str, area: AreaRules, model: Model | None = None) -> tuple[Model, str]:
    """The model and state code a person meant: a code (`orange`, `STOP`) or a Danish label
    (`Reduceret booking`), case-insensitive. A label two models share (`Bookingstop`) needs
    the model."""
    wanted = text.strip().casefold()
    matches = [
        (m, code)
        for m, codes in _STATES.items()
        if model in (None, m)
        for code in codes
        if wanted in (code.casefold(), area.label(m, code).casefold())
    ]
    if len({code for _, code in matches}) == 1:
        return matches[0]
    models = [m.value for m in _STATES if model in (None, m)]
    known = ", ".join(
        f"{code} ({area.label(m, code)})" for m in _STATES if m.value in models for code in _STATES[m]
    )
    if not matches:
        raise OverrideError(f"unknown state {text!r}; use one of: {known}")
    raise OverrideError(f"state {text!r} is ambiguous: give the model (--model soft or --model hard)")


def make_override(
    *,
    month: date | str,
    provider_id: str,
    tender_area: int,
    state: str,
    decided_by: str,
    reason: str,
    area: AreaRules,
    model: Model | str | None = None,
    decided_at: datetime | None = None,
    action_plan_received: date | str | None = None,
) -> Override:
    """A validated override: a known state, a person and a reason are required; a received
    action plan only in a state that requires one, on a real day not after the decision."""
    if not reason or not reason.strip():
        raise OverrideError('an override needs a reason (--reason "..."): it is shown next to the proposal')
    if not decided_by or not decided_by.strip():
        raise OverrideError("an override needs the name or initials of the person who decided it")
    chosen, code = parse_state(state, area, Model(model) if model else None)
    decided_at = decided_at or datetime.now().replace(microsecond=0)
    received = _plan_received(action_plan_received, area, chosen, code, decided_at)
    return Override(
        month=month_start(month),
        provider_id=provider_id.strip(),
        tender_area=int(tender_area),
        model=chosen,
        state=code,
        decided_by=decided_by.strip(),
        decided_at=decided_at,
        reason=reason.strip(),
        action_plan_received=received,
    )


def _plan_received(
    value: date | str | None, area: AreaRules, model: Model, state: str, decided_at: datetime
) -> date | None:
    """The day an action plan was received, checked: a plan belongs to a state that requires
    one (rules.yaml action_plan), and nobody records a plan before it arrives."""
    if value is None:
        return None
    if not area.action_plan(model, state):
        needs = [s for s in _STATES[model] if area.action_plan(model, s)]
        raise OverrideError(
            f"only a state that requires an action plan ({', '.join(needs) or 'none in this model'}) "
            f"records one as received, not {state}"
        )
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise OverrideError(f"the action plan's date {value!r} is not a day YYYY-MM-DD") from None
    if value > decided_at.date():
        raise OverrideError(
            f"the action plan received {value:%Y-%m-%d} is after the override was decided "
            f"({decided_at:%Y-%m-%d})"
        )
    return value


def overrides_from_frame(frame: pd.DataFrame) -> list[Override]:
    """meta.decision_overrides rows as Override records; the latest decision per key wins."""
    missing = [c for c in OVERRIDE_COLUMNS if c not in frame.columns]
    if missing:
        raise OverrideError(f"meta.decision_overrides lacks the column(s) {', '.join(missing)}")
    ordered = frame.sort_values("decided_at", kind="stable")
    return latest_per_key(
        Override(
            month=month_start(pd.Timestamp(r["month"]).date()),
            provider_id=str(r["provider_id"]),
            tender_area=int(r["tender_area"]),
            model=Model(r["model"]),
            state=str(r["state"]),
            decided_by=str(r["decided_by"]),
            decided_at=pd.Timestamp(r["decided_at"]).to_pydatetime(),
            reason=str(r["reason"]),
            action_plan_received=_day(r.get("action_plan_received")),
        )
        for r in ordered.to_dict("records")
    )


def _day(value: object) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()  # type: ignore[arg-type]


def latest_per_key(overrides: Iterable[Override]) -> list[Override]:
    """One override per month, provider, area and model: the last one given wins, because a
    person who decides again changes their decision."""
    latest: dict[tuple[Any, ...], Override] = {}
    for o in overrides:
        latest[(o.month, *o.key)] = o
    return list(latest.values())


def overrides_frame(overrides: Iterable[Override]) -> pd.DataFrame:
    """Override records as rows of meta.decision_overrides."""
    rows = [{c: getattr(o, c) for c in OVERRIDE_COLUMNS} for o in overrides]
    frame = pd.DataFrame(rows, columns=list(OVERRIDE_COLUMNS))
    frame["model"] = frame["model"].astype(str)
    return frame


def index_overrides(overrides: Iterable[Override], month: date) -> Mapping[tuple[str, int, Model], Override]:
    """This month's overrides by (provider, area, model); a second one for the same key is an error."""
    found: dict[tuple[str, int, Model], Override] = {}
    for o in overrides:
        if o.month != month_start(month):
            continue
        if o.key in found:
            raise OverrideError(
                f"two overrides for provider {o.provider_id}, area {o.tender_area}, "
                f"model {o.model.value} in {o.month:%Y-%m}: keep one"
            )
        if o.state not in _STATES[o.model]:
            raise OverrideError(f"override state {o.state!r} is not a state of the {o.model.value} model")
        found[o.key] = o
    return found
