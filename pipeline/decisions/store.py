"""The decisions' side of the warehouse: what `provmon decide` and `provmon backtest` read from
the dbt marts, and the tables they write (docs/warehouse.md, outputs.md).

Reads (from one build, so every month is cut at its own as-of date by the dbt project):
fct_decision_inputs, one row per as-of month x provider x tender area with everything the
decisions judge on (the primary measure's row and evidence, the area's booking volume, the
provider's capacity, Model A's lift cohorts), and dim_parameters (the build's measure
parameters: min_n, funnel levels, primary measures). Writes: the decision store
(decisions.booking_decisions, decisions.booking_allocation), meta.decision_overrides and
meta.rule_versions.

The inputs are found by name in the warehouse's catalog rather than by a schema fixed here, so
that the dbt profile's schema can change without breaking the decision step. The tables written
are the decision store (schema `decisions`, and the two meta tables): dbt sources whose shape is
declared in the dbt project and created by every dbt run; the public mart_booking_decisions and
mart_booking_allocation are dbt views of it, so they are part of every published build."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cache

import duckdb
import pandas as pd
import yaml

from pipeline.build import PROJECT_DIR, PUBLIC_SCHEMA
from pipeline.decisions.errors import DecisionInputError
from pipeline.decisions.overrides import Override, overrides_frame
from pipeline.decisions.rules import Rules
from pipeline.errors import ConfigError
from pipeline.months import month_end, month_start
from pipeline.parameters import MeasureParameters, measure_parameters
from pipeline.warehouse import next_id, qualified

INPUTS = "fct_decision_inputs"
PARAMETERS = "dim_parameters"
MEASURES = "dim_measures"

DECISIONS = "mart_booking_decisions"
ALLOCATION = "mart_booking_allocation"
META = "meta"
OVERRIDES = "decision_overrides"
RULE_VERSIONS = "rule_versions"

# Columns the decision rows have beyond the engine's: which model the month's decision shows
# (decisions.md: both are computed, one is shown; default soft) and when it was computed.
STORED_EXTRA = ("shown", "computed_at")

# The decision store (dbt sources `decisions` and `decision_log`): the tables' shape is declared
# once, in dbt_project/models/marts/decisions/_decisions__models.yml, and created by every dbt
# run (macro create_decision_store); here they are only read and written, by column name.
STORE = "decisions"
STORE_TABLES = {DECISIONS: "booking_decisions", ALLOCATION: "booking_allocation"}
# The yml that declares the store, its shape and its tests.
STORE_YML = PROJECT_DIR / "models" / "marts" / "decisions" / "_decisions__models.yml"
# The order the Parquet exports are sorted in, so that two exports of the same rows are equal.
EXPORT_ORDER = {
    DECISIONS: ("month", "tender_area", "provider_id", "model"),
    ALLOCATION: ("month", "model", "tender_area", "provider_id"),
}


def stored(mart: str) -> str:
    """The store table behind a public decision mart."""
    return qualified(None, STORE, STORE_TABLES[mart])


@dataclass(frozen=True)
class DecisionSources:
    """Everything the decisions of any month read, from one build of the warehouse."""

    inputs: pd.DataFrame  # fct_decision_inputs: one row per as-of month x provider x tender area
    parameters: MeasureParameters  # dim_parameters: the build's min_n, levels, primary measures
    measure_labels: dict[str, str]  # dim_measures: each measure's one Danish label
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
    return DecisionSources(inputs, read_parameters(con), read_measure_labels(con), as_of.date())


def read_measure_labels(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each measure's Danish label as the build published it (dim_measures)."""
    return dict(con.execute(f"SELECT measure, label_da FROM {relation(con, MEASURES)}").fetchall())


# --- the tables the decisions write -------------------------------------------------------------


def require_store(con: duckdb.DuckDBPyConnection) -> None:
    """The decision store exists once the warehouse has been built with this dbt project."""
    tables = [(STORE, t) for t in STORE_TABLES.values()] + [(META, OVERRIDES), (META, RULE_VERSIONS)]
    for schema, table in tables:
        if not _has_table(con, schema, table):
            raise DecisionInputError(
                f"the warehouse has no {schema}.{table}: build it first (provmon build), which "
                "creates the decision store"
            )


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """A store table's columns in order, as dbt created them from the yml."""
    return [row[0] for row in con.execute(f"SELECT * FROM {table} LIMIT 0").description]


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ? "
        "AND table_catalog = current_database()",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def stored_decisions(con: duckdb.DuckDBPyConnection, months: Iterable[date] | None = None) -> pd.DataFrame:
    """Stored decision rows (of the given months)."""
    where, params = "", []
    if months is not None:
        params = [month_start(m) for m in months]
        where = f"WHERE month IN ({', '.join('?' for _ in params)})" if params else "WHERE false"
    return con.execute(
        f"SELECT * FROM {stored(DECISIONS)} {where} ORDER BY month, tender_area, provider_id, model",
        params,
    ).df()


def stored_months(con: duckdb.DuckDBPyConnection) -> dict[date, str]:
    """Each stored decision month with the model it shows."""
    rows = con.execute(
        f"SELECT month, any_value(model) FILTER (WHERE shown) FROM {stored(DECISIONS)} GROUP BY month"
    ).fetchall()
    return {month_start(m): shown for m, shown in rows}


def read_overrides(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every recorded override, oldest first (overrides_from_frame keeps the latest per key)."""
    return con.execute(f"SELECT * FROM {qualified(None, META, OVERRIDES)} ORDER BY override_id").df()


def _insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Append the frame's rows under the table's own columns (a column the frame lacks is an
    error: the yml and the engine disagree)."""
    if frame.empty:
        return
    columns = table_columns(con, table)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DecisionInputError(f"{table} has column(s) the decision rows lack: {', '.join(missing)}")
    con.register("_provmon_rows", frame[columns])
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
    _insert(con, table, frame)
    return override_id


def record_rule_version(con: duckdb.DuckDBPyConnection, rules: Rules) -> None:
    """Keep the rule file's text and the build's decision parameters under their version, once,
    so an old decision's rules can be read back even where git history is not at hand."""
    table = qualified(None, META, RULE_VERSIONS)
    known = con.execute(
        f"SELECT count(*) FROM {table} WHERE rule_version = ?", [rules.rule_version]
    ).fetchone()
    if known and known[0]:
        return
    text = rules.file.read_text(encoding="utf-8")
    con.execute(
        f"INSERT INTO {table} (rule_version, rules_file, rules_text, recorded_at, parameters) "
        "VALUES (?, ?, ?, current_localtimestamp(), ?)",
        [rules.rule_version, rules.file.name, text, rules.parameters_text],
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


def replace_months(con: duckdb.DuckDBPyConnection, decisions: pd.DataFrame, allocation: pd.DataFrame) -> None:
    """Replace the stored rows of the months in `decisions`, decisions and allocation (inside
    the caller's transaction)."""
    months = sorted({month_start(pd.Timestamp(m).date()) for m in decisions["month"]})
    if not months:
        return
    marks = ", ".join("?" for _ in months)
    for mart, frame in ((DECISIONS, decisions), (ALLOCATION, allocation)):
        name = stored(mart)
        con.execute(f"DELETE FROM {name} WHERE month IN ({marks})", months)
        _insert(con, name, frame)


def exports() -> list[tuple[str, tuple[str, ...]]]:
    """(relation, order-by columns) of the public decision marts (the published views of the
    store), as pipeline.build.export_marts takes them."""
    return [(qualified(None, PUBLIC_SCHEMA, mart), order) for mart, order in EXPORT_ORDER.items()]


# --- the store's tests, as the yml declares them --------------------------------------------


def _test_name(test: str | dict) -> str:
    return test if isinstance(test, str) else next(iter(test))


def _test_sql(table: str, test: str | dict, column: str | None = None) -> str:
    """A query counting the rows that fail one of the yml's tests (the generic tests the dbt
    project runs on the store: unique_combination, not_null, accepted_values)."""
    name = _test_name(test)
    arguments = test[name].get("arguments", {}) if isinstance(test, dict) else {}
    if name == "unique_combination":
        keys = ", ".join(f'"{c}"' for c in arguments["columns"])
        return f"SELECT count(*) FROM (SELECT {keys} FROM {table} GROUP BY ALL HAVING count(*) > 1)"
    if name == "not_null" and column:
        return f'SELECT count(*) FROM {table} WHERE "{column}" IS NULL'
    if name == "accepted_values" and column:
        values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in arguments["values"])
        return f'SELECT count(*) FROM {table} WHERE "{column}" IS NOT NULL AND "{column}" NOT IN ({values})'
    raise ConfigError(f"{STORE_YML.name}: {table}: the decision step cannot check the test {name!r}")


@cache
def store_checks() -> tuple[tuple[str, str], ...]:
    """(what, query) for every test the yml declares on the store's tables and on the marts
    that publish them, each query run against the store table itself."""
    declared = yaml.safe_load(STORE_YML.read_text(encoding="utf-8"))
    nodes: list[tuple[str, dict]] = []
    for source in declared.get("sources", []):
        nodes += [(qualified(None, source["schema"], t["name"]), t) for t in source.get("tables", [])]
    store_of = {mart: stored(mart) for mart in STORE_TABLES}
    nodes += [(store_of[m["name"]], m) for m in declared.get("models", []) if m["name"] in store_of]
    checks = []
    for table, node in nodes:
        for test in node.get("data_tests", []):
            checks.append((f"{table} {_test_name(test)}", _test_sql(table, test)))
        for column in node.get("columns", []):
            for test in column.get("data_tests", []):
                what = f"{table}.{column['name']} {_test_name(test)}"
                checks.append((what, _test_sql(table, test, column["name"])))
    return tuple(checks)


def check_store(con: duckdb.DuckDBPyConnection) -> None:
    """Run the yml's tests on the store inside the writing transaction, so rows that fail them
    are never committed (the build runs the same tests as dbt tests)."""
    failed = []
    for what, sql in store_checks():
        found = con.execute(sql).fetchone()
        if found and found[0]:
            failed.append(f"{what}: {found[0]} rows")
    if failed:
        raise DecisionInputError(f"the decisions fail the tests of {STORE_YML.name}: {'; '.join(failed)}")
