"""Incremental risk adjustment: keep the months of the previous build whose models cannot have
changed, recompute the rest (issue 19), and the same months of the referrals' expected
probabilities, which are those models applied to the referrals that matured in the month.

The risk adjustment fits one model per tender area × measure × as-of month, each month's fit
starting from the coefficients of the month before (the warm start). A month's results are
therefore a function of its own risk base and of every earlier month's: they can be kept from
the previous build exactly when the base of that month and of every month before it is the
same. int_risk_base_fingerprinted gives each month's base a fingerprint; the previous build's
int_provider_results_risk_adjusted stores the fingerprint its rows were computed from and each
month's coefficients. Per area × measure the longest prefix of months with equal fingerprints is
kept, and the fits resume after it from the coefficients of the last adjusted kept month, so
the recomputed months are bit for bit what a full build computes. A correction dated in the
past changes that month's fingerprint, so it and every later month are recomputed.

The fingerprint also carries a digest of the statistics' parameters, stats.yaml, the code of
pipeline/stats and of the risk step's dbt models, and the versions of the numeric libraries: a
changed parameter, method or library recomputes everything.

A kept month's expected probabilities (fct_referral_expected) are kept too: they are the kept
coefficients applied to the referrals that matured in the month, and the month's fingerprint
hashes each of them (referral_id, window_end_month and every covariate), so none can have
changed."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline.sql import ident, literal
from pipeline.stats.compare import risk_adjust
from pipeline.stats.config import StatsConfig
from pipeline.stats.expected import EXPECTED_COLUMNS, referral_expected

log = logging.getLogger(__name__)

STATS_DIR = Path(__file__).resolve().parent
# The columns the risk adjustment adds for the next build (described in _risk__models.yml).
FINGERPRINT = "base_fingerprint"
COEFFICIENTS = "model_coefficients"
PAIR = ("tender_area", "measure")
MONTH = "as_of_month"

# (tender_area, measure) -> its last kept month and the coefficients to resume from.
AreaMeasure = tuple[Any, Any]


@dataclass(frozen=True)
class Resume:
    """Where the fits of one tender area × measure resume: after `kept_through` (None: from the
    first month), warm-started from `start` (the last adjusted kept month's coefficients)."""

    kept_through: dt.date | None = None
    start: dict[str, float] | None = None


@dataclass(frozen=True)
class ResumePlan:
    """The resume point of every area × measure of an incremental build, and where the previous
    build's rows are (relations in the warehouse)."""

    points: dict[AreaMeasure, Resume] = field(default_factory=dict)
    previous_results: str | None = None

    def after(self) -> dict[AreaMeasure, dt.date | None]:
        """Per area × measure, the month after which the fits run (risk_adjust's `after`)."""
        return {pair: point.kept_through for pair, point in self.points.items()}

    def start(self) -> dict[AreaMeasure, dict[str, float] | None]:
        """Per area × measure, the coefficients they resume from (risk_adjust's `start`)."""
        return {pair: point.start for pair, point in self.points.items()}

    def kept_months(self, fingerprints: pd.DataFrame) -> int:
        """How many of the months × areas × measures in `fingerprints` are kept."""
        months = fingerprints[MONTH].map(_as_date)
        through = [
            self.after().get((a, m))
            for a, m in zip(fingerprints[PAIR[0]], fingerprints[PAIR[1]], strict=True)
        ]
        return sum(t is not None and month <= t for month, t in zip(months, through, strict=True))

    def kept_filter(self) -> str:
        """SQL condition on tender_area, measure, as_of_month selecting the kept rows."""
        kept = [
            f"({ident(PAIR[0])} = {literal(area)} and {ident(PAIR[1])} = {literal(measure)} "
            f"and {ident(MONTH)} <= {literal(point.kept_through)})"
            for (area, measure), point in sorted(self.points.items(), key=str)
            if point.kept_through is not None
        ]
        return " or ".join(kept) if kept else "false"

    def pending_filter(self) -> str:
        """SQL condition selecting the rows to compute: those not kept. When every area × measure
        keeps months, it also says as_of_month is after the earliest month any of them keeps
        through: a condition on the month alone, which DuckDB pushes below the risk-base view's
        rolling-base join into its month spine (a condition per area × measure it cannot), so
        the view is evaluated for the recomputed months only, not for every month (nationally
        some 20 s even when every month is kept). The bound needs `points` to hold every area ×
        measure of the base, as both plans do: the risk step's is made from the base's own
        fingerprints, the expected probabilities' from the results the risk step made of it."""
        kept = self.kept_filter()
        if kept == "false":
            return "true"
        through = [point.kept_through for point in self.points.values()]
        if any(month is None for month in through):
            return f"not ({kept})"
        return f"{ident(MONTH)} > {literal(min(through))} and not ({kept})"


def digest_sources() -> list[Path]:
    """The files whose code turns the risk base into a month's results: pipeline/stats (with
    stats.yaml), the risk step's dbt models and the macro naming the columns they read."""
    project = STATS_DIR.parents[1] / "dbt_project"
    return sorted(
        [
            *STATS_DIR.glob("*.py"),
            *STATS_DIR.glob("*.yaml"),
            *(project / "models" / "intermediate" / "risk").glob("*.*"),
            project / "models" / "marts" / "fct_referral_expected.py",
            project / "macros" / "risk_base.sql",
        ]
    )


def digest_libraries() -> dict[str, str]:
    """The installed versions of the libraries whose arithmetic decides the last bit of a fit
    or a probability (an upgrade may change it)."""
    names = ("numpy", "scipy", "statsmodels", "duckdb", "pandas", "pyarrow")
    return {name: importlib.metadata.version(name) for name in names}


def statistics_digest(parameters: str | None) -> str:
    """A digest of everything besides the data that decides a month's results: the parameters
    (JSON from the model's config), the code of digest_sources and the library versions."""
    digest = hashlib.sha256((parameters or "").encode("utf-8"))
    for path in digest_sources():
        digest.update(path.name.encode("utf-8"))
        digest.update(path.read_bytes())
    digest.update(json.dumps(digest_libraries(), sort_keys=True).encode("utf-8"))
    return digest.hexdigest()[:16]


def month_fingerprints(fingerprinted: pd.DataFrame, digest: str) -> pd.DataFrame:
    """tender_area, measure, as_of_month, base_fingerprint: int_risk_base_fingerprinted's rows
    and hash with the statistics' digest, as text."""
    frame = fingerprinted[[*PAIR, MONTH]].copy()
    frame[MONTH] = pd.to_datetime(frame[MONTH]).dt.date
    frame[FINGERPRINT] = [
        f"{digest}:{int(rows)}:{int(hashed)}"
        for rows, hashed in zip(fingerprinted["base_rows"], fingerprinted["base_hash"], strict=True)
    ]
    return frame


def kept_prefix(current: pd.DataFrame, previous: pd.DataFrame) -> dict[AreaMeasure, dt.date | None]:
    """Per area × measure of `current`, the last month of the longest run of months, from the
    first, whose fingerprint equals the previous build's (None: nothing can be kept). A month
    that only one of the builds has ends the run: kept rows are a range of months, and a month
    the previous build alone has (its rolling base emptied by a correction) must not be kept.

    Both frames: tender_area, measure, as_of_month, base_fingerprint (one row per month)."""
    before, now = _by_month(previous), _by_month(current)
    months: dict[AreaMeasure, set[dt.date]] = {}
    for area, measure, month in (*before, *now):
        months.setdefault((area, measure), set()).add(month)
    kept: dict[AreaMeasure, dt.date | None] = {}
    for pair in {key[:2] for key in now}:
        last = None
        for month in sorted(months[pair]):
            if before.get((*pair, month)) != now.get((*pair, month)):
                break
            last = month
        kept[pair] = last
    return kept


def _by_month(fingerprints: pd.DataFrame) -> dict[tuple[Any, Any, dt.date], str]:
    return {
        (row.tender_area, row.measure, _as_date(row.as_of_month)): row.base_fingerprint
        for row in fingerprints.itertuples(index=False)
    }


def resume_points(
    kept: Mapping[AreaMeasure, dt.date | None], coefficients: pd.DataFrame
) -> dict[AreaMeasure, Resume]:
    """The warm start of each area × measure: the coefficients of its last month up to the kept
    one that has any (a month whose model fell back passes the month before's on, as the fits
    do). `coefficients`: tender_area, measure, as_of_month, model_coefficients (JSON, '' or
    NULL without a model)."""
    frame = coefficients.assign(**{MONTH: coefficients[MONTH].map(_as_date)})
    frame = frame[frame[COEFFICIENTS].fillna("") != ""].sort_values([*PAIR, MONTH])
    points = {}
    for pair, through in kept.items():
        start = None
        if through is not None:
            rows = frame[
                (frame[PAIR[0]] == pair[0]) & (frame[PAIR[1]] == pair[1]) & (frame[MONTH] <= through)
            ]
            start = json.loads(rows[COEFFICIENTS].iloc[-1]) if len(rows) else None
        points[pair] = Resume(through, start)
    return points


def _as_date(value: Any) -> dt.date:
    return pd.Timestamp(value).date()


# --- the previous build, in the warehouse ------------------------------------------------------


def previous_relation(
    con: duckdb.DuckDBPyConnection,
    build_schema: str | None,
    table: str,
    columns: tuple[str, ...] = (),
    exactly: bool = False,
) -> str | None:
    """`table` of the previous build (its schema or one dbt made beside it, `<schema>_…`) if it
    exists with `columns` (`exactly`: with no others); None before the first build, on
    --full-refresh, or when the previous build was made by code without incremental state."""
    if not build_schema:
        return None
    rows = con.execute(
        "select table_schema, list(column_name) from information_schema.columns "
        "where table_name = ? and (table_schema = ? or starts_with(table_schema, ?)) "
        "and table_catalog = current_database() group by table_schema",
        [table, build_schema, f"{build_schema}_"],
    ).fetchall()
    found = [
        schema
        for schema, names in rows
        if (set(names) == set(columns) if exactly else set(columns) <= set(names))
    ]
    return f"{ident(found[0])}.{ident(table)}" if len(found) == 1 else None


def resume_plan(
    con: duckdb.DuckDBPyConnection, build_schema: str | None, fingerprints: pd.DataFrame
) -> ResumePlan:
    """What an incremental build keeps from the previous build `build_schema`."""
    results = previous_relation(
        con, build_schema, "int_provider_results_risk_adjusted", (FINGERPRINT, COEFFICIENTS, *PAIR, MONTH)
    )
    if results is None:
        return ResumePlan()
    state = con.execute(
        f"select distinct {', '.join(map(ident, (*PAIR, MONTH, FINGERPRINT, COEFFICIENTS)))} from {results}"
    ).df()
    kept = kept_prefix(fingerprints, state.drop(columns=[COEFFICIENTS]).drop_duplicates())
    plan = ResumePlan(resume_points(kept, state), results)
    log.info(
        "risk adjustment: %d of %d months × tender areas × measures kept from %s",
        plan.kept_months(fingerprints),
        len(fingerprints),
        build_schema,
    )
    return plan


def pending_base(
    con: duckdb.DuckDBPyConnection, base: duckdb.DuckDBPyRelation, plan: ResumePlan
) -> duckdb.DuckDBPyRelation:
    """The rows of the risk base an incremental build computes (those `plan` does not keep),
    read once from the view into memory. The statistics query the base once or twice per tender
    area × measure; on the view each query evaluates the rolling-base join again (≈ 0.2 s at
    city scale, 2 × 56 of them), on the new months' rows alone it is a few milliseconds. A
    build that keeps nothing reads the view as it is (the whole base, never held in memory)."""
    pending = plan.pending_filter()
    if pending == "true":
        return base
    table = base.filter(pending).arrow()
    if isinstance(table, pa.RecordBatchReader):
        table = table.read_all()
    return con.from_arrow(table)


def with_kept_rows(
    con: duckdb.DuckDBPyConnection, fresh: pd.DataFrame, previous: str | None, kept_filter: str
) -> pd.DataFrame | duckdb.DuckDBPyRelation:
    """The previous build's kept rows and the freshly computed ones, as one relation with the
    previous table's column types (so kept and fresh rows are stored alike); `fresh` alone
    when nothing is kept."""
    if previous is None or kept_filter == "false":
        return fresh
    table = con.sql(f"select * from {previous}")
    names = list(table.columns)
    casts = ", ".join(
        f"cast({ident(n)} as {kind}) as {ident(n)}" for n, kind in zip(names, table.types, strict=True)
    )
    # Columns the previous table lacks (a newer build's) stop the union: recompute everything.
    if set(fresh.columns) != set(names):
        return fresh
    query = f"select * from {previous} where {kept_filter} union all select {casts} from fresh"
    return con.from_df(fresh[names]).query("fresh", query)


# --- the dbt Python model --------------------------------------------------------------


def risk_adjust_incrementally(
    con: duckdb.DuckDBPyConnection,
    base: duckdb.DuckDBPyRelation,
    config: StatsConfig,
    fingerprints: pd.DataFrame,
    previous_schema: str | None,
) -> pd.DataFrame | duckdb.DuckDBPyRelation:
    """int_provider_results_risk_adjusted: risk_adjust of the months the previous build cannot
    give, with each row's base fingerprint and the previous build's rows of the kept months."""
    plan = resume_plan(con, previous_schema, fingerprints)
    fresh = risk_adjust(pending_base(con, base, plan), config, plan.after(), plan.start())
    by_month = {
        (area, measure, _as_date(month)): fingerprint
        for area, measure, month, fingerprint in fingerprints[[*PAIR, MONTH, FINGERPRINT]].itertuples(
            index=False
        )
    }
    fresh[FINGERPRINT] = [
        by_month.get((area, measure, _as_date(month)), "")
        for area, measure, month in fresh[[*PAIR, MONTH]].itertuples(index=False)
    ]
    return with_kept_rows(con, fresh, plan.previous_results, plan.kept_filter())


def referral_expected_incrementally(
    con: duckdb.DuckDBPyConnection,
    base: duckdb.DuckDBPyRelation,
    config: StatsConfig,
    results: duckdb.DuckDBPyRelation,
    previous_schema: str | None,
) -> pd.DataFrame | duckdb.DuckDBPyRelation:
    """fct_referral_expected: referral_expected of the months the risk adjustment recomputed
    (`results`, this build's int_provider_results_risk_adjusted), with the previous build's
    rows of the months it kept. Kept are the same months as the risk adjustment's: per area ×
    measure, the longest run from the first month whose fingerprints are the previous build's."""
    # Exactly its columns: with_kept_rows stores kept and fresh rows in one table.
    previous = previous_relation(
        con, previous_schema, "fct_referral_expected", EXPECTED_COLUMNS, exactly=True
    )
    before = previous_relation(
        con, previous_schema, "int_provider_results_risk_adjusted", (FINGERPRINT, *PAIR, MONTH)
    )
    if previous is None or before is None:
        return referral_expected(base, config, results)
    keys = ", ".join(map(ident, (*PAIR, MONTH, FINGERPRINT)))
    current = results.query("results", f"select distinct {keys} from results").df()
    kept = kept_prefix(current, con.execute(f"select distinct {keys} from {before}").df())
    plan = ResumePlan({pair: Resume(through) for pair, through in kept.items()})
    log.info(
        "expected probabilities: %d of %d months × tender areas × measures kept from %s",
        plan.kept_months(current),
        len(current),
        previous_schema,
    )
    kept_filter = plan.kept_filter()
    pending = base if kept_filter == "false" else base.filter(plan.pending_filter())
    return with_kept_rows(con, referral_expected(pending, config, results), previous, kept_filter)
