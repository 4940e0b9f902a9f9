"""From Great Expectations results to what a person reads and what the warehouse keeps.

A GX result says which rows of a frame broke an expectation; a row of a deliveries frame is a
delivery, so every check becomes one result per delivery (pass or fail, with the observed
value), and a breach becomes a message that names the table, the check, the delivery and the
numbers. Results go to meta.quality_results, one set per run.

Each result carries two wordings: the English message of the command line, and for the
data-quality page and the reports the check's Danish description, observed value and threshold
(pipeline/quality/wording.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipeline.cpr import scrub
from pipeline.errors import ProvmonError
from pipeline.quality import wording

RESULTS = "meta.quality_results"
RESULTS_DDL = f"""CREATE TABLE IF NOT EXISTS {RESULTS} (
    run_id BIGINT NOT NULL,
    suite VARCHAR NOT NULL,
    expectation VARCHAR NOT NULL,
    expectation_type VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    load_id BIGINT,
    file VARCHAR,
    severity VARCHAR NOT NULL,
    success BOOLEAN NOT NULL,
    observed_value VARCHAR,
    message VARCHAR,
    checked_at TIMESTAMP NOT NULL,
    description_da VARCHAR,
    observed_da VARCHAR,
    threshold_da VARCHAR
)"""
# Columns added after the first release: a warehouse made before them gets them on the next run.
_ADDED_COLUMNS = ("description_da", "observed_da", "threshold_da")
# Breaches quoted in full in an error message, and breached rows in one result; the rest are counted.
_SHOWN_BREACHES = 5
_SHOWN_ROWS = 5


@dataclass(frozen=True)
class CheckResult:
    """One check on one delivery (or on a whole table)."""

    suite: str
    expectation: str
    expectation_type: str
    table_name: str
    severity: str
    success: bool
    load_id: int | None = None
    file: str | None = None
    observed_value: str | None = None
    message: str | None = None
    description_da: str | None = None
    observed_da: str | None = None
    threshold_da: str | None = None


def _fmt(value: Any) -> str:
    """A number or value as a message shows it: 12,345 / 0.483 / 2024-05-05."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and number.is_integer():
            return f"{int(number):,}"
        return f"{number:.3g}"
    return str(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT


def _expected(kwargs: dict) -> str:
    """The bound of an expectation in words."""
    said = wording.bound(kwargs, wording.ENGLISH, _fmt)
    if said is not None:
        return said
    allowed = kwargs.get("value_set") or []
    if len(allowed) <= 12:
        return f"one of {', '.join(str(v) for v in allowed)}"
    return f"one of the {len(allowed)} values of the suite"


def _exception(result: Any) -> str | None:
    """The message of an exception GX caught while evaluating an expectation, if any."""
    info = result.exception_info or {}
    candidates = [info, *[v for v in info.values() if isinstance(v, dict)]]
    for item in candidates:
        if item.get("raised_exception"):
            return str(item.get("exception_message") or "unknown error").splitlines()[0]
    return None


@dataclass
class _Judged:
    """One GX expectation result with the suite's frame, interpreted."""

    suite: str
    meta: dict
    frame: pd.DataFrame
    result: Any

    @property
    def config(self) -> Any:
        return self.result.expectation_config

    @property
    def check(self) -> str:
        return self.config.meta["check"]

    @property
    def severity(self) -> str:
        return str(getattr(self.config.severity, "value", self.config.severity))

    def table(self, extract: str | None) -> str:
        return f"landing.{extract}" if extract else self.meta["table"]

    def make(self, success: bool, extract: str | None = None, **fields: Any) -> CheckResult:
        """The result; its texts are CPR-scrubbed, the last line of defence for what it quotes."""
        message = fields.pop("message", None)
        for name in ("observed_value", "observed_da"):
            if fields.get(name) is not None:
                fields[name] = scrub(fields[name])
        table = self.table(extract)
        return CheckResult(
            suite=self.suite,
            expectation=self.check,
            expectation_type=self.config.type,
            table_name=table,
            severity=self.severity,
            success=success,
            message=None if success or message is None else scrub(f"{table} {self.check}: {message}"),
            description_da=self.config.description,
            threshold_da=wording.threshold(self.config.type, self.config.kwargs),
            **fields,
        )

    @property
    def context_columns(self) -> list[str]:
        return list(self.config.meta.get("context", []))

    def context(self, row: Mapping[str, Any]) -> str:
        parts = [
            f"{c} {_fmt(row[c])}" for c in self.config.meta.get("context", []) if not _missing(row.get(c))
        ]
        return f" ({', '.join(parts)})" if parts else ""

    def judged_rows(self) -> pd.DataFrame:
        """The frame rows the expectation judged: those its row condition selects that have
        a value to judge, with `_breached` marking the ones GX found unexpected."""
        rows = self.frame
        if selection := self.config.meta.get("rows"):
            rows = rows[rows[selection["column"]].isin(selection["values"])]
        columns = _columns(self.config.kwargs)
        if columns:
            rows = rows[rows[columns].notna().any(axis=1)]
        rows = rows.copy()
        index = self.meta["index"]
        details = self.result.result
        if index:
            breached = pd.DataFrame(
                details.get("unexpected_index_list") or [], columns=index
            ).drop_duplicates()
            marked = rows[index].merge(breached.assign(_breached=True), on=index, how="left")["_breached"]
            rows["_breached"] = marked.fillna(False).astype(bool).to_numpy()
        else:
            rows["_breached"] = (
                rows[columns[0]].isin(details.get("unexpected_list") or []) if columns else False
            )
        return rows


def interpret(suite: str, meta: dict, frame: pd.DataFrame, validation: Any) -> list[CheckResult]:
    """Every expectation result of one suite run as CheckResults: per delivery (and extract)
    where the frame has deliveries, else one per expectation."""
    out: list[CheckResult] = []
    for result in validation.results:
        judged = _Judged(suite, meta, frame, result)
        problem = _exception(result)
        if problem is not None:
            out.append(
                judged.make(
                    False,
                    message=f"could not be evaluated: {problem}",
                    observed_da=wording.not_evaluated(problem),
                )
            )
        elif judged.config.type == "expect_column_distinct_values_to_contain_set":
            out += list(_missing_values(judged))
        elif _columns(judged.config.kwargs) and len(frame.columns.intersection(["extract", "load_id"])):
            out += list(_row_results(judged))
        else:
            out.append(_table_result(judged))
    return out


def _columns(kwargs: dict) -> list[str]:
    if "column" in kwargs:
        return [kwargs["column"]]
    return [kwargs[k] for k in ("column_A", "column_B") if k in kwargs]


def _group_key(record: dict, groups: list[str]) -> tuple:
    return tuple(None if _missing(record[g]) else record[g] for g in groups)


def _row_results(judged: _Judged) -> Iterator[CheckResult]:
    """One result per delivery (or per extract, for a frame without deliveries) that the
    check judged, listing the rows that broke it. Vectorised: a city has thousands of
    deliveries x checks, and per-group pandas operations would cost seconds."""
    kwargs = judged.config.kwargs
    columns = _columns(kwargs)
    rows = judged.judged_rows()
    groups = [c for c in ("extract", "load_id") if c in rows.columns]
    records = rows.to_dict("records")
    sizes: dict[tuple, int] = {}
    firsts: dict[tuple, dict] = {}
    breaches: dict[tuple, list[dict]] = {}
    for record in records:
        key = _group_key(record, groups)
        sizes[key] = sizes.get(key, 0) + 1
        firsts.setdefault(key, record)
        if record["_breached"]:
            breaches.setdefault(key, []).append(record)
    for key, first in firsts.items():
        values = dict(zip(groups, key, strict=True))
        load_id = values.get("load_id")
        bad = breaches.get(key, [])
        if bad or sizes[key] == 1:
            shown = (bad or [first])[:_SHOWN_ROWS]
            observed = "; ".join(_observed(judged, r, columns) for r in shown)
            observed_da = "; ".join(wording.observed(r, columns, judged.context_columns) for r in shown)
            if len(bad) > _SHOWN_ROWS:
                observed += f"; and {len(bad) - _SHOWN_ROWS} more"
                observed_da += f"; {wording.more(len(bad) - _SHOWN_ROWS)}"
        else:
            observed = f"{sizes[key]} rows as expected"
            observed_da = wording.as_expected(sizes[key])
        file = first.get("file")
        where = f"{file} (load {int(load_id)}): " if load_id is not None else ""
        yield judged.make(
            not bad,
            values.get("extract"),
            load_id=None if load_id is None else int(load_id),
            file=file,
            observed_value=observed,
            observed_da=observed_da,
            message=f"{where}{observed}; expected {_expected(kwargs)}",
        )


def _observed(judged: _Judged, row: Mapping[str, Any], columns: list[str]) -> str:
    """A judged row in words: `column_key: value (context)` or `column = value (context)`."""
    values = ", ".join(_fmt(None if _missing(row[c]) else row[c]) for c in columns)
    if "column_key" in row:
        return f"{row['column_key']}: {values}{judged.context(row)}"
    return f"{' / '.join(columns)} = {values}{judged.context(row)}"


def _missing_values(judged: _Judged) -> Iterator[CheckResult]:
    """A set the frame must contain (columns, extracts): one result per extract it concerns."""
    column, wanted = judged.config.kwargs["column"], judged.config.kwargs["value_set"]
    present = set(judged.frame[column].dropna()) if column in judged.frame.columns else set()
    by_extract: dict[str | None, list[str]] = {}
    for value in wanted:
        extract = value.split(".", 1)[0] if column in ("column_key", "extract") else None
        by_extract.setdefault(extract, [])
        if value not in present:
            by_extract[extract].append(value)
    for extract, missing in by_extract.items():
        what = "no delivery loaded" if column == "extract" else f"missing columns: {', '.join(missing)}"
        observed = ", ".join(missing) if missing else "all present"
        yield judged.make(
            not missing,
            extract,
            observed_value=observed,
            observed_da=wording.missing_values(missing),
            message=what,
        )


def _table_result(judged: _Judged) -> CheckResult:
    """A check on a frame without deliveries: a mart's one-row profile, its schema or codes."""
    kwargs, details = judged.config.kwargs, judged.result.result
    if "value_set" in kwargs:
        rows = judged.judged_rows()
        bad = rows[rows["_breached"]]
        records = bad.to_dict("records")
        observed = "; ".join(_observed(judged, r, [kwargs["column"]]) for r in records) or "none"
        observed_da = (
            "; ".join(wording.observed(r, [kwargs["column"]], judged.context_columns) for r in records)
            or wording.NONE
        )
        message = f"unexpected values: {observed}"
    elif "column" in kwargs and len(judged.frame) == 1:
        row = judged.frame.iloc[0]
        value = row[kwargs["column"]]
        observed = _fmt(None if _missing(value) else value)
        observed_da = wording.observed(row.to_dict(), [kwargs["column"]], judged.context_columns)
        message = f"{kwargs['column']} = {observed}{judged.context(row)}; expected {_expected(kwargs)}"
    else:
        observed = _fmt(details.get("observed_value"))
        observed_da = wording.value(details.get("observed_value"), kwargs.get("column"))
        message = f"observed {observed}; expected {_expected(kwargs)}"
    return judged.make(
        judged.result.success, observed_value=observed, observed_da=observed_da, message=message
    )


@dataclass
class QualitySummary:
    """The outcome of a validation run; str() is the one-line summary the CLI prints."""

    run_id: int
    results: list[CheckResult] = field(default_factory=list)
    suites: int = 0
    deliveries: int = 0
    profiled: int = 0
    reference_date: str | None = None
    page: Path | None = None
    seconds: float = 0.0
    verb: str = "validate"

    def breaches(self, severity: str) -> list[CheckResult]:
        return [r for r in self.results if not r.success and r.severity == severity]

    @property
    def critical(self) -> list[CheckResult]:
        return self.breaches("critical")

    @property
    def warnings(self) -> list[CheckResult]:
        return self.breaches("warning")

    def named_warnings(self) -> list[str]:
        """Each warned check in words, `<table> <check>: <n> deliveries` (just `<table> <check>`
        for a check on a whole table), so that the summary says what the warnings are."""
        deliveries: dict[tuple[str, str], int] = {}
        for result in self.warnings:
            key = (result.table_name, result.expectation)
            deliveries[key] = deliveries.get(key, 0) + (result.load_id is not None)
        return [
            f"{table} {check}: {n} deliver{'y' if n == 1 else 'ies'}" if n else f"{table} {check}"
            for (table, check), n in deliveries.items()
        ]

    def __str__(self) -> str:
        named = self.named_warnings()
        listed = f" ({'; '.join(named)})" if named else ""
        counts = f"{len(self.critical)} critical, {len(self.warnings)} warnings{listed}"
        scope = f"{self.suites} suites, {len(self.results):,} checks"
        if self.deliveries:
            scope += f" on {self.deliveries:,} deliveries ({self.profiled:,} profiled now)"
        as_of = f" as of {self.reference_date}" if self.reference_date else ""
        docs = f"; quality page {self.page}" if self.page else ""
        return f"{self.verb}: {scope}{as_of}: {counts}{docs}; {self.seconds:.1f} s"


class CriticalQualityError(ProvmonError):
    """A critical check failed: the build must not run on this data. Carries the summary."""

    def __init__(self, summary: QualitySummary) -> None:
        self.summary = summary
        breaches = summary.critical
        shown = "; ".join(r.message or r.expectation for r in breaches[:_SHOWN_BREACHES])
        more = f"; and {len(breaches) - _SHOWN_BREACHES} more" if len(breaches) > _SHOWN_BREACHES else ""
        where = f"meta.quality_results run {summary.run_id}"
        if summary.page:
            where += f", quality page {summary.page}"
        super().__init__(
            f"{len(breaches)} critical data-quality breach{'es' if len(breaches) != 1 else ''}, "
            f"the data must be corrected before a build: {shown}{more} (all results: {where})"
        )


def store_results(con: duckdb.DuckDBPyConnection, run_id: int, results: list[CheckResult]) -> None:
    """Append the run's results to meta.quality_results."""
    ensure_results_table(con)
    if not results:
        return
    frame = pd.DataFrame([asdict(r) for r in results])
    frame.insert(0, "run_id", run_id)
    frame["load_id"] = frame["load_id"].astype("Int64")
    columns = list(frame.columns)
    con.register("quality_results_frame", frame)
    try:
        con.execute(
            f"INSERT INTO {RESULTS} ({', '.join(columns)}, checked_at) "
            f"SELECT {', '.join(columns)}, current_localtimestamp() FROM quality_results_frame"
        )
    finally:
        con.unregister("quality_results_frame")


def ensure_results_table(con: duckdb.DuckDBPyConnection) -> None:
    """meta.quality_results with every column, also in a warehouse made by an older version."""
    con.execute(RESULTS_DDL)
    for column in _ADDED_COLUMNS:
        con.execute(f"ALTER TABLE {RESULTS} ADD COLUMN IF NOT EXISTS {column} VARCHAR")
