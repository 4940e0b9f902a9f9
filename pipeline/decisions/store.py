"""The decisions' side of the warehouse: what `provmon decide` and `provmon backtest` read from
the dbt marts, and the tables they write (docs/warehouse.md, outputs.md).

Reads (from one build, so every month is cut at its own as-of date by the dbt project):
fct_decision_inputs, one row per as-of month x provider x tender area with everything the
decisions judge on (the primary measure's row and evidence, the area's booking volume, the
provider's capacity, Model A's lift cohorts), and dim_parameters (the build's measure
parameters: min_n, funnel levels, primary measures). Writes: mart_booking_decisions and
mart_booking_allocation beside the dbt marts (same schema), meta.decision_overrides and
meta.rule_versions.

The relations are found by name in the warehouse's catalog rather than by a schema fixed here,
so that the dbt profile's schema can change without breaking the decision step."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from pipeline.decisions.allocation import PROVIDER_COLUMNS
from pipeline.decisions.engine import DECISION_COLUMNS
from pipeline.decisions.errors import DecisionInputError
from pipeline.decisions.overrides import OVERRIDE_COLUMNS, Override, overrides_frame
from pipeline.decisions.rules import Rules
from pipeline.months import month_end, month_start
from pipeline.parameters import MeasureParameters, measure_parameters
from pipeline.warehouse import next_id, qualified

INPUTS = "fct_decision_inputs"
PARAMETERS = "dim_parameters"

DECISIONS = "mart_booking_decisions"
ALLOCATION = "mart_booking_allocation"
META = "meta"
OVERRIDES = "decision_overrides"
RULE_VERSIONS = "rule_versions"

# Columns the decisions mart has beyond the engine's rows: which model the month's decision
# shows (decisions.md: both are computed, one is shown; default soft) and when it was computed.
STORED_EXTRA = ("shown", "computed_at")

_TYPES = {
    "month": "DATE",
    "tender_area": "INTEGER",
    "share": "DOUBLE",
    "z_score": "DOUBLE",
    "n": "BIGINT",
    "successes": "BIGINT",
    "rate": "DOUBLE",
    "wilson_low": "DOUBLE",
    "wilson_high": "DOUBLE",
    "area_rate": "DOUBLE",
    "area_rate_excl_provider": "DOUBLE",
    "threshold": "DOUBLE",
    "ok_streak": "INTEGER",
    "below_streak": "INTEGER",
    "stop_month": "DATE",
    "cohort_ongoing_at_stop": "INTEGER",
    "cohort_closed": "INTEGER",
    "cohort_with_result": "INTEGER",
    "override_at": "TIMESTAMP",
    "shown": "BOOLEAN",
    "agreement_ends_in_month": "BOOLEAN",
    "review_required": "BOOLEAN",
    "action_plan_required": "BOOLEAN",
    "cusum_s": "DOUBLE",
    "cusum_h": "DOUBLE",
    "cusum_signal": "BOOLEAN",
    "state_since": "DATE",
    "state_cohort_judged": "INTEGER",
    "state_cohort_successes": "INTEGER",
    "state_cohort_expected": "DOUBLE",
    "state_cohort_lower": "DOUBLE",
    "computed_at": "TIMESTAMP",
    "decided_at": "TIMESTAMP",
    "override_id": "BIGINT",
    "state_share": "DOUBLE",
    "capacity_per_month": "DOUBLE",
    "weight": "DOUBLE",
    "allocation_share": "DOUBLE",
    "expected_referrals": "DOUBLE",
    "referrals_per_month": "INTEGER",
    "area_expected_volume": "DOUBLE",
    "area_referrals_per_month": "INTEGER",
}
DECISION_TABLE_COLUMNS = (*DECISION_COLUMNS, *STORED_EXTRA)
ALLOCATION_COLUMNS = (
    "month",
    "model",
    *PROVIDER_COLUMNS,
    "state",
    "area_expected_volume",
    "area_referrals_per_month",
    "area_note",
    "rule_version",
    *STORED_EXTRA,
)
OVERRIDE_TABLE_COLUMNS = ("override_id", *OVERRIDE_COLUMNS)
RULE_VERSION_COLUMNS = ("rule_version", "rules_file", "rules_text", "recorded_at")
# The order the Parquet exports are sorted in, so that two exports of the same rows are equal.
EXPORT_ORDER = {
    DECISIONS: ("month", "tender_area", "provider_id", "model"),
    ALLOCATION: ("month", "model", "tender_area", "provider_id"),
}


def _ddl(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}" {_TYPES.get(c, "VARCHAR")}' for c in columns)


@dataclass(frozen=True)
class DecisionSources:
    """Everything the decisions of any month read, from one build of the warehouse."""

    inputs: pd.DataFrame  # fct_decision_inputs: one row per as-of month x provider x tender area
    parameters: MeasureParameters  # dim_parameters: the build's min_n, levels, primary measures
    as_of: date  # the build's as_of: no month after it can be decided

    @property
    def complete_months(self) -> list[date]:
        """The as-of months the build evaluated at their last day: a month whose as_of_date is
        earlier (a build with a mid-month as_of) is not yet known in full and cannot be decided."""
        months = self.inputs[["as_of_month", "as_of_date"]].drop_duplicates()
        whole = [
            month_start(pd.Timestamp(m).date())
            for m, d in months.itertuples(index=False)
            if pd.Timestamp(d).date() == month_end(pd.Timestamp(m).date())
        ]
        return sorted(set(whole))


def relation(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The qualified name of a dbt table or view, wherever the profile put it."""
    found = con.execute(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = ? "
        "AND table_catalog = current_database() ORDER BY table_schema",
        [name],
    ).fetchall()
    if not found:
        raise DecisionInputError(f"the warehouse has no {name}: build the marts first (provmon build)")
    return qualified(None, found[0][0], name)


def marts_schema(con: duckdb.DuckDBPyConnection) -> str:
    """The schema of the dbt marts, where the decision marts go too."""
    return relation(con, INPUTS).split(".")[0].strip('"')


def read_parameters(con: duckdb.DuckDBPyConnection) -> MeasureParameters:
    """The measure parameters the build was made with (dim_parameters)."""
    rows = con.execute(f"SELECT parameter, value FROM {relation(con, PARAMETERS)}").fetchall()
    return measure_parameters(dict(rows))


def read_sources(con: duckdb.DuckDBPyConnection) -> DecisionSources:
    """Read the decision inputs of every month the build holds."""
    inputs = con.execute(f"SELECT * FROM {relation(con, INPUTS)}").df()
    as_of = pd.to_datetime(inputs["as_of_date"]).max()
    if pd.isna(as_of):
        raise DecisionInputError(f"{INPUTS} is empty: are referrals loaded and built (provmon build)?")
    return DecisionSources(inputs, read_parameters(con), as_of.date())


# --- the tables the decisions write -------------------------------------------------------------


def ensure_tables(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Create the decision marts and meta tables that do not exist yet."""
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{META}"')
    tables = {
        qualified(None, schema, DECISIONS): DECISION_TABLE_COLUMNS,
        qualified(None, schema, ALLOCATION): ALLOCATION_COLUMNS,
        qualified(None, META, OVERRIDES): OVERRIDE_TABLE_COLUMNS,
        qualified(None, META, RULE_VERSIONS): RULE_VERSION_COLUMNS,
    }
    for table, columns in tables.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({_ddl(columns)})")


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ? "
        "AND table_catalog = current_database()",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def stored_decisions(
    con: duckdb.DuckDBPyConnection, schema: str, months: Iterable[date] | None = None
) -> pd.DataFrame:
    """Stored rows of mart_booking_decisions (of the given months), empty if there are none."""
    if not _has_table(con, schema, DECISIONS):
        return pd.DataFrame(columns=list(DECISION_TABLE_COLUMNS))
    where, params = "", []
    if months is not None:
        params = [month_start(m) for m in months]
        where = f"WHERE month IN ({', '.join('?' for _ in params)})" if params else "WHERE false"
    return con.execute(
        f"SELECT * FROM {qualified(None, schema, DECISIONS)} {where} "
        "ORDER BY month, tender_area, provider_id, model",
        params,
    ).df()


def stored_months(con: duckdb.DuckDBPyConnection, schema: str) -> dict[date, str]:
    """Each stored decision month with the model it shows."""
    if not _has_table(con, schema, DECISIONS):
        return {}
    rows = con.execute(
        f"SELECT month, any_value(model) FILTER (WHERE shown) FROM {qualified(None, schema, DECISIONS)} "
        "GROUP BY month"
    ).fetchall()
    return {month_start(m): shown for m, shown in rows}


def read_overrides(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every recorded override, oldest first (overrides_from_frame keeps the latest per key)."""
    if not _has_table(con, META, OVERRIDES):
        return pd.DataFrame(columns=list(OVERRIDE_TABLE_COLUMNS))
    return con.execute(f"SELECT * FROM {qualified(None, META, OVERRIDES)} ORDER BY override_id").df()


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    if frame.empty:
        return
    con.register("_provmon_rows", frame[list(columns)])
    try:
        names = ", ".join(f'"{c}"' for c in columns)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM _provmon_rows")
    finally:
        con.unregister("_provmon_rows")


def append_override(con: duckdb.DuckDBPyConnection, override: Override) -> int:
    """Add a person's decision to meta.decision_overrides; returns its override_id."""
    table = qualified(None, META, OVERRIDES)
    override_id = next_id(con, table, "override_id")
    frame = overrides_frame([override]).assign(override_id=override_id)
    _insert(con, table, frame, OVERRIDE_TABLE_COLUMNS)
    return override_id


def record_rule_version(con: duckdb.DuckDBPyConnection, rules: Rules) -> None:
    """Keep the rule file's text under its version, once, so an old decision's rules can be
    read back even where git history is not at hand."""
    table = qualified(None, META, RULE_VERSIONS)
    known = con.execute(
        f"SELECT count(*) FROM {table} WHERE rule_version = ?", [rules.rule_version]
    ).fetchone()
    if known and known[0]:
        return
    text = rules.file.read_text(encoding="utf-8")
    con.execute(
        f"INSERT INTO {table} VALUES (?, ?, ?, current_localtimestamp())",
        [rules.rule_version, rules.file.name, text],
    )


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All writes of a verb at once or none: a reader never sees a month half written, and an
    override is never stored without the decisions it changes."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def replace_months(
    con: duckdb.DuckDBPyConnection, schema: str, decisions: pd.DataFrame, allocation: pd.DataFrame
) -> None:
    """Replace the stored rows of the months in `decisions`, decisions and allocation (inside
    the caller's transaction)."""
    months = sorted({month_start(pd.Timestamp(m).date()) for m in decisions["month"]})
    if not months:
        return
    marks = ", ".join("?" for _ in months)
    for table, frame, columns in (
        (DECISIONS, decisions, DECISION_TABLE_COLUMNS),
        (ALLOCATION, allocation, ALLOCATION_COLUMNS),
    ):
        name = qualified(None, schema, table)
        con.execute(f"DELETE FROM {name} WHERE month IN ({marks})", months)
        _insert(con, name, frame, columns)


def exports(schema: str) -> list[tuple[str, tuple[str, ...]]]:
    """(relation, order-by columns) of the decision marts, as pipeline.build.export_marts takes."""
    return [(qualified(None, schema, table), order) for table, order in EXPORT_ORDER.items()]
