"""The decision verbs on the warehouse: `provmon decide`, `provmon decide override` and
`provmon backtest` (decisions.md, outputs.md).

The decision library (engine, models, allocation) is pure; this module feeds it what one build
of the warehouse holds and writes the results back. Every month is decided from its own as-of
month of mart_provider_results (the dbt project evaluates each month at its last day, so one
build serves every month) and continues from the stored decision of the month before, so that a
person's override carries into the next month's proposal. A month that is decided again (after
an override, or a new rule file) re-decides every later stored month too: they depend on it."""

from __future__ import annotations

import getpass
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from pipeline import danish
from pipeline.build import built_month, export_marts
from pipeline.decisions import store
from pipeline.decisions.allocation import allocate
from pipeline.decisions.backtest import BacktestResult, backtest
from pipeline.decisions.backtest_report import BacktestReport, GroundTruth, build_report, write_report
from pipeline.decisions.cohort import CountedCohorts, state_cohorts_from_rows
from pipeline.decisions.engine import Key, MonthInput, ProviderMemory, memory_from_frame
from pipeline.decisions.errors import DecisionInputError, OverrideError
from pipeline.decisions.inputs import ProviderMonth, primary_rows_by_month
from pipeline.decisions.overrides import Override, latest_per_key, make_override, overrides_from_frame
from pipeline.decisions.reasons import Templates, load_templates
from pipeline.decisions.rules import HardState, Model, Rules, SoftState, load_rules
from pipeline.errors import ProvmonError
from pipeline.months import month_end, month_range, month_start, next_month
from pipeline.settings import GROUND_TRUTH_FILE, Settings
from pipeline.warehouse import connect, record_run

log = logging.getLogger(__name__)

DEFAULT_MODEL = Model.SOFT
STATE_ORDER = {Model.SOFT: tuple(SoftState), Model.HARD: tuple(HardState)}


def parse_month(text: str) -> date:
    """`YYYY-MM` (or a date in it) as the first day of the month; ProvmonError otherwise."""
    try:
        return month_start(text)
    except ValueError:
        raise ProvmonError(f"month {text!r} is not of the form YYYY-MM (e.g. 2024-06)") from None


def parse_model(model: str | Model) -> Model:
    try:
        return Model(str(model).strip().lower())
    except ValueError:
        raise ProvmonError(
            f"unknown model {model!r}: use soft (blid overgang) or hard (bookingstop)"
        ) from None


# --- the months one build can decide ----------------------------------------------------------


class MonthInputs:
    """Each month's decision input from one build's fct_decision_inputs: the month's provider
    rows with their evidence, the lift cohorts cut at the month's evaluation date, the area
    volumes from bookings up to that month and the capacity of the agreements valid in it.
    Nothing dated after the month is used (the dbt models cut every month at its own date)."""

    def __init__(self, sources: store.DecisionSources, rules: Rules) -> None:
        self.sources = sources
        self.rules = rules
        self.rows = primary_rows_by_month(sources.inputs, rules)
        self.months = [m for m in sources.complete_months if m in self.rows]
        if not self.months:
            raise DecisionInputError(
                "fct_decision_inputs has no complete month to decide: build for a month end "
                "(provmon build --as-of YYYY-MM-DD)"
            )
        frame = sources.inputs
        self._by_month = {
            month_start(pd.Timestamp(m).date()): rows for m, rows in frame.groupby("as_of_month", sort=False)
        }

    @property
    def latest(self) -> date:
        return self.months[-1]

    def check(self, months: list[date]) -> None:
        """Refuse a month the build cannot decide, saying what to build."""
        for month in months:
            if month in self.months:
                continue
            if month > self.latest:
                raise DecisionInputError(
                    f"the warehouse is built as of {self.sources.as_of:%Y-%m-%d}, so {month:%Y-%m} "
                    f"cannot be decided yet: provmon build --as-of {month_end(month):%Y-%m-%d}"
                )
            raise DecisionInputError(
                f"mart_provider_results has no provider results for {month:%Y-%m} "
                f"(it covers {self.months[0]:%Y-%m} to {self.latest:%Y-%m})"
            )

    def provider_rows(self, month: date) -> list[ProviderMonth]:
        return self.rows.get(month_start(month), [])

    def month(self, month: date, overrides: tuple[Override, ...] = ()) -> MonthInput:
        month = month_start(month)
        rows = self._by_month[month]
        keys = zip(rows["provider_id"].astype(str), rows["tender_area"].astype(int), strict=True)
        return MonthInput(
            month=month,
            rows=self.provider_rows(month),
            cohorts=CountedCohorts.from_rows(rows),
            state_cohorts=state_cohorts_from_rows(rows),
            overrides=overrides,
            volumes=dict(
                zip(rows["tender_area"].astype(int), rows["area_booking_volume"].astype(float), strict=True)
            ),
            capacity={
                key: (None if pd.isna(c) else float(c))
                for key, c in zip(keys, rows["capacity_per_month"], strict=True)
            },
        )


def _month_inputs(con: duckdb.DuckDBPyConnection) -> MonthInputs:
    """The build's decision inputs with the rules laid over its own measure parameters
    (dim_parameters) and measure labels (dim_measures), so the reasons quote the min_n and
    levels that classified the evidence and the measures' one Danish name."""
    sources = store.read_sources(con)
    return MonthInputs(
        sources, load_rules(parameters=sources.parameters, measure_labels=sources.measure_labels)
    )


def allocation_frame(decisions: pd.DataFrame, month_input: MonthInput) -> pd.DataFrame:
    """mart_booking_allocation rows of one month: every model's allocation per tender area."""
    frames = []
    for model, rows in decisions.groupby("model", sort=False):
        result = allocate(rows, month_input.volumes, month_input.capacity)
        areas = result.areas.rename(
            columns={
                "expected_volume": "area_expected_volume",
                "referrals_per_month": "area_referrals_per_month",
                "note": "area_note",
            }
        )[["tender_area", "area_expected_volume", "area_referrals_per_month", "area_note"]]
        keys = ["provider_id", "tender_area"]
        own = rows[[*keys, "state", "rule_version", *store.STORED_EXTRA]]
        frame = result.providers.merge(areas, on="tender_area").merge(own, on=keys)
        frames.append(frame.assign(month=month_input.month, model=model))
    if not frames:
        return pd.DataFrame(columns=["month", "model", "tender_area", "provider_id"])
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class _Plan:
    """Which months a decision run writes, and what the first of them continues from."""

    months: list[date]
    memory: dict[Key, ProviderMemory]


def _plan(
    con: duckdb.DuckDBPyConnection, inputs: MonthInputs, requested: date, stored: dict[date, str]
) -> _Plan:
    """From the month after the last stored month before `requested` (or the first month of the
    marts) to the last of `requested` and the stored months: a month continues from the one
    before, and every later stored month depends on the months it follows."""
    earlier = [m for m in stored if m < requested]
    if earlier:
        previous = max(earlier)
        memory = memory_from_frame(store.stored_decisions(con, [previous]))
        first = next_month(previous)
    else:
        memory, first = {}, min(requested, inputs.months[0])
    last = max([requested, *stored])
    months = month_range(first, last)
    later = [m for m in stored if m > inputs.latest]
    if later:
        raise DecisionInputError(
            f"decisions are stored up to {max(later):%Y-%m}, but the warehouse is built only as of "
            f"{inputs.sources.as_of:%Y-%m-%d}: build for {month_end(max(later)):%Y-%m-%d} first "
            f"(provmon build --as-of {month_end(max(later)):%Y-%m-%d}), so later months can follow"
        )
    inputs.check(months)
    return _Plan(months, memory)


@dataclass(frozen=True)
class _Decided:
    decisions: pd.DataFrame
    allocation: pd.DataFrame


def _decide_months(
    inputs: MonthInputs,
    plan: _Plan,
    overrides: list[Override],
    shown: dict[date, Model],
    templates: Templates,
) -> _Decided:
    """Both models over the planned months, each continuing from the one before (the
    back-test's driver, with the recorded overrides), plus each month's allocation."""
    month_inputs = [inputs.month(m, tuple(overrides)) for m in plan.months]
    result = backtest(month_inputs, inputs.rules, templates, plan.memory)
    computed_at = datetime.now().replace(microsecond=0)
    decisions = result.decisions
    decisions["shown"] = [
        shown.get(m, DEFAULT_MODEL) == model
        for m, model in zip(decisions["month"], decisions["model"], strict=True)
    ]
    decisions["computed_at"] = computed_at
    allocation = pd.concat(
        [allocation_frame(decisions[decisions["month"] == mi.month], mi) for mi in month_inputs],
        ignore_index=True,
    )
    return _Decided(decisions, allocation)


# --- provmon decide ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DecideSummary:
    """What `provmon decide` wrote; str() is the CLI's one-line summary."""

    month: date
    model: Model
    counts: dict[str, dict[str, int]]  # model -> state -> provider-areas, in escalation order
    months_written: tuple[date, ...]
    rule_version: str
    overrides: int  # overrides in force in the month
    allocation: pd.DataFrame  # the month's mart_booking_allocation rows of the shown model
    model_name: str  # the shown model's one Danish name (rules.yaml model_names)
    exported: tuple[Path, ...] = field(default=())

    def __str__(self) -> str:
        def counts(model: Model) -> str:
            return ", ".join(f"{state} {n}" for state, n in self.counts[model.value].items())

        other = Model.HARD if self.model == Model.SOFT else Model.SOFT
        written = self.months_written
        span = f"{written[0]:%Y-%m}..{written[-1]:%Y-%m}" if len(written) > 1 else f"{written[0]:%Y-%m}"
        overridden = (
            f", {self.overrides} override{'s' if self.overrides != 1 else ''}" if self.overrides else ""
        )
        return (
            f"decide {self.month:%Y-%m}: {self.model.value} model (shown) {counts(self.model)}; "
            f"{other.value} model {counts(other)}{overridden}; {len(written)} month(s) written ({span}), "
            f"rules {self.rule_version}"
        )

    def allocation_text(self) -> str:
        """The month's allocation of new referrals per tender area, in Danish, as the CLI
        prints it under the summary."""
        return allocation_text(self.allocation, self.month, self.model_name)


def allocation_text(allocation: pd.DataFrame, month: date, model_name: str) -> str:
    lines = [f"Fordeling af nye henvisninger, {danish.format_month(month)} ({model_name.lower()}):"]
    for area, rows in allocation.groupby("tender_area", sort=True):
        first = rows.iloc[0]
        volume = danish.format_number(first["area_expected_volume"], 1)
        lines.append(f"  Udbudsområde {area}: forventet {volume} henvisninger pr. måned")
        for r in rows.sort_values("provider_id").itertuples(index=False):
            count = (
                danish.format_int(r.referrals_per_month)
                if pd.notna(r.referrals_per_month)
                else danish.MISSING
            )
            share = danish.format_percent(r.allocation_share)
            lines.append(f"    {r.provider_id:<8} {r.state:<7} {share:>8} {count:>6}")
        if first["area_note"]:
            lines.append(f"    {first['area_note']}")
    return "\n".join(lines)


def _state_counts(decisions: pd.DataFrame, month: date) -> dict[str, dict[str, int]]:
    mine = decisions[decisions["month"] == month]
    out = {}
    for model, states in STATE_ORDER.items():
        found = Counter(mine.loc[mine["model"] == model.value, "state"])
        out[model.value] = {s.value: found.get(s.value, 0) for s in states}
    return out


def _write(con: duckdb.DuckDBPyConnection, rules: Rules, decided: _Decided) -> None:
    """Write the months and test the store with its yml's tests before the caller commits."""
    store.record_rule_version(con, rules)
    store.replace_months(con, decided.decisions, decided.allocation)
    store.check_store(con)


def _export(settings: Settings) -> tuple[Path, ...]:
    """Export the public decision marts (the published views of the store) to Parquet."""
    return tuple(export_marts(settings.warehouse.resolve(), store.exports(), settings.marts_dir))


def decide(settings: Settings, month: date | None = None, model: str = "soft") -> DecideSummary:
    """Propose both models' booking states for `month` (default: the month of the published
    build, pipeline.build.built_month), with the allocation of new referrals; `model` is the one shown.

    Months before it that are not stored yet are decided too (a month continues from the one
    before), and so are the stored months after it."""
    shown_model = parse_model(model)
    templates = load_templates()
    # The published build's month, read before the writing connection opens: DuckDB refuses a
    # second (read-only) connection to a file this process holds open for writing.
    built = None if month else built_month(settings.warehouse)
    with record_run(settings.warehouse, "decide") as run:
        with connect(settings.warehouse) as con:
            store.require_store(con)
            inputs = _month_inputs(con)
            rules = inputs.rules
            target = month_start(month) if month else built
            stored = store.stored_months(con)
            plan = _plan(con, inputs, target, stored)
            shown = {m: parse_model(s or DEFAULT_MODEL) for m, s in stored.items()} | {target: shown_model}
            overrides = overrides_from_frame(store.read_overrides(con))
            decided = _decide_months(inputs, plan, overrides, shown, templates)
            with store.transaction(con):
                _write(con, rules, decided)
        exported = _export(settings)
        alloc = decided.allocation
        summary = DecideSummary(
            month=target,
            model=shown_model,
            counts=_state_counts(decided.decisions, target),
            months_written=tuple(plan.months),
            rule_version=rules.rule_version,
            overrides=sum(o.month == target for o in overrides),
            allocation=alloc[(alloc["month"] == target) & (alloc["model"] == shown_model.value)],
            model_name=rules.model_name(shown_model),
            exported=exported,
        )
        run.summary = str(summary)
    log.info("%s", summary.allocation_text())
    return summary


# --- provmon decide override ------------------------------------------------------------------


def _check_decided(con: duckdb.DuckDBPyConnection, override: Override) -> None:
    """An override sits beside a stored proposal: the month must be decided and the provider
    must have a row in the area that month."""
    stored = store.stored_decisions(con, [override.month])
    if stored.empty:
        raise OverrideError(
            f"{override.month:%Y-%m} has no decisions yet: "
            f"run provmon decide --month {override.month:%Y-%m} first"
        )
    area = stored[stored["tender_area"] == override.tender_area]
    if override.provider_id not in set(area["provider_id"]):
        known = ", ".join(sorted(set(area["provider_id"]))) or "none"
        raise OverrideError(
            f"provider {override.provider_id} has no decision in tender area {override.tender_area} in "
            f"{override.month:%Y-%m} (providers there: {known})"
        )


def record_override(
    settings: Settings,
    month: date,
    provider_id: str,
    tender_area: int,
    state: str,
    reason: str,
    decided_by: str | None = None,
    model: str | None = "soft",
    action_plan_received: date | str | None = None,
) -> str:
    """Record a person's decision beside the month's proposal (who, when, why) and decide the
    month and every later stored month again, so the next month starts from the decided state.

    `model` None lets the state name the model (`STOP` is Model A's, `ORANGE` Model B's)."""
    rules, templates = load_rules(), load_templates()
    override = make_override(
        month=month,
        provider_id=provider_id,
        tender_area=tender_area,
        state=state,
        decided_by=decided_by or getpass.getuser(),
        reason=reason,
        area=rules.area(tender_area),
        model=parse_model(model) if model else None,
        action_plan_received=action_plan_received,
    )
    with record_run(settings.warehouse, "decide override") as run:
        with connect(settings.warehouse) as con:
            store.require_store(con)
            _check_decided(con, override)
            inputs = _month_inputs(con)
            stored = store.stored_months(con)
            plan = _plan(con, inputs, override.month, stored)
            shown = {m: parse_model(s or DEFAULT_MODEL) for m, s in stored.items()}
            overrides = latest_per_key([*overrides_from_frame(store.read_overrides(con)), override])
            decided = _decide_months(inputs, plan, overrides, shown, templates)
            with store.transaction(con):
                store.append_override(con, override)
                _write(con, inputs.rules, decided)
        _export(settings)
        row = _row_of(decided.decisions, override)
        summary = (
            f"override {override.month:%Y-%m}: {override.provider_id} area {override.tender_area} "
            f"{override.model.value} model {row['state']} (proposed {row['proposed_state']}) decided by "
            f"{override.decided_by}; {len(plan.months)} month(s) decided again "
            f"({plan.months[0]:%Y-%m}..{plan.months[-1]:%Y-%m})"
        )
        if override.action_plan_received:
            summary += f"; action plan received {override.action_plan_received:%Y-%m-%d}"
        run.summary = summary
    return summary


def _row_of(decisions: pd.DataFrame, o: Override) -> pd.Series:
    match = decisions[
        (decisions["month"] == o.month)
        & (decisions["provider_id"] == o.provider_id)
        & (decisions["tender_area"] == o.tender_area)
        & (decisions["model"] == o.model.value)
    ]
    return match.iloc[0]


# --- provmon backtest -------------------------------------------------------------------------


@dataclass(frozen=True)
class BacktestSummary:
    """What `provmon backtest` computed and wrote; str() is the one-line summary."""

    from_month: date
    to_month: date
    result: BacktestResult
    report: BacktestReport
    files: tuple[Path, ...]

    @property
    def decisions(self) -> pd.DataFrame:
        return self.result.decisions

    def __str__(self) -> str:
        parts = []
        for model in Model:
            row = self.result.summary.set_index("model").loc[model.value]
            moved = (
                danish.format_number(row["referrals_moved"], 1) if pd.notna(row["referrals_moved"]) else "-"
            )
            text = f"{model.value} {int(row['state_changes'])} state changes, {moved} referrals moved"
            false = self.report.value("false_reductions", model)
            if false is not None:
                text += f", {int(false)} false reductions"
            parts.append(text)
        where = self.files[0].parent if self.files else "-"
        return (
            f"backtest {self.from_month:%Y-%m}..{self.to_month:%Y-%m} "
            f"({len(month_range(self.from_month, self.to_month))} months): {'; '.join(parts)}; "
            f"table and chart in {where}"
        )


def _ground_truth(settings: Settings, path: Path | None) -> GroundTruth | None:
    if path is not None:
        return GroundTruth.load(Path(path))
    default = settings.raw_dir / GROUND_TRUTH_FILE
    return GroundTruth.load(default) if default.exists() else None


def run_backtest(
    settings: Settings,
    from_month: date | None = None,
    to_month: date | None = None,
    ground_truth: Path | None = None,
) -> BacktestSummary:
    """Replay both models over from_month..to_month (default: every complete month of the
    build) from one build, each month on what was known at its last day, starting from every
    provider GREEN/OPEN and without overrides (it compares the models, not the meetings).
    Writes the table (CSV, Markdown) and a chart (HTML) to settings.out_dir / "backtest"; with a
    ground-truth file (synthetic data) also the false stops and reductions and the reaction
    delays."""
    if from_month and to_month and month_start(to_month) < month_start(from_month):
        raise ProvmonError(
            f"--to {month_start(to_month):%Y-%m} is before --from {month_start(from_month):%Y-%m}"
        )
    templates = load_templates()
    truth = _ground_truth(settings, ground_truth)
    with record_run(settings.warehouse, "backtest") as run:
        with connect(settings.warehouse, read_only=True) as con:
            inputs = _month_inputs(con)
        rules = inputs.rules
        first = month_start(from_month) if from_month else inputs.months[0]
        last = month_start(to_month) if to_month else inputs.latest
        months = month_range(first, last)
        if not months:
            raise ProvmonError(f"the back-test period {first:%Y-%m}..{last:%Y-%m} has no months")
        inputs.check(months)
        result = backtest([inputs.month(m) for m in months], rules, templates)
        report = build_report(result, rules, truth)
        files = write_report(report, settings.out_dir / "backtest")
        summary = BacktestSummary(first, last, result, report, tuple(files))
        run.summary = str(summary)
    return summary
