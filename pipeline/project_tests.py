"""Which of the dbt project's own tests a build runs.

Most of a build's tests check the month's data (keys, accepted values, relationships) and run in
every build. Two kinds check the project's SQL instead:

- dbt's unit tests (`unit_tests:` beside the models): fixed rows in, fixed rows out;
- data tests tagged `follows_from_sql`: a property the SQL guarantees once the tests upstream of
  it pass, such as a staging model's key (its newest-delivery rule keeps one row per key) or the
  key of a join of two keyed tables (the risk base view's key follows from the keys of the
  measures and the month spine, both tested in every build).

Their result depends on what compiles and runs the SQL, not on the rows: the project's files,
the dbt and DuckDB libraries, the dbt vars, and the column types of the relations they read
(dbt casts a unit test's fixture rows to the types of the real inputs, and a staging model
compiles against the landing table's columns). A build therefore runs them inside the build
when the code may have changed since they last passed (the first build, `--full-refresh`, a
changed code digest); with the same code it skips them, and runs them after the build only if
the column types of the build's relations or the landing tables differ from those they passed
on. What they passed on is kept in meta.project_tests_passed (issue 19: about 40 s of a
national build)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from pipeline.sql import ident
from pipeline.warehouse import keep_one_row, meta_table_exists

# The tag of a data test whose result follows from the SQL and the tests upstream of it.
SQL_TAG = "follows_from_sql"
# The files of the dbt project that decide what its SQL does (not its docs or dbt's output).
PROJECT_SUFFIXES = (".sql", ".py", ".yml", ".yaml", ".csv", ".jinja")
OUTPUT_DIRS = ("target", "logs")
# The libraries that render, compile and run the SQL, besides every installed dbt-* package
# (dbt-core, dbt-adapters with the unit-test machinery and the cross-database macros, …).
LIBRARIES = ("duckdb", "jinja2", "agate")
# The vars that change every build without changing what the SQL does on fixed rows: the unit
# tests that read as_of set it themselves; landing_rows_checked_through only narrows the landing
# row tests to new loads; previous_build_loads_through lets a model keep the published build's
# rows, which are those it would compute (pipeline/landing_checks.py).
PER_BUILD_VARS = (
    "as_of",
    "previous_build_schema",
    "landing_rows_checked_through",
    "previous_build_loads_through",
)
# Where a build records the code and column types its project tests passed on.
PASSED_TABLE = "project_tests_passed"
LANDING_SCHEMA = "landing"
# The build's schema in the column-type digest, so that two builds' schemas compare equal.
BUILD_PLACEHOLDER = "build"


@dataclass(frozen=True)
class Passed:
    """What the project's own tests passed on: the code digest and the column-type digest."""

    code: str
    types: str


def project_files(project_dir: Path) -> list[Path]:
    """The project's source files, in a stable order (installed packages under dbt_packages
    included: they are code the project runs)."""
    return sorted(
        path
        for path in project_dir.rglob("*")
        if path.is_file() and path.suffix in PROJECT_SUFFIXES and not is_output(path.relative_to(project_dir))
    )


def is_output(relative: Path) -> bool:
    """dbt's output folders and hidden files (a lock, an editor's swap file)."""
    return any(part in OUTPUT_DIRS or part.startswith(".") for part in relative.parts)


def library_versions() -> dict[str, str]:
    """Every installed dbt package and the other LIBRARIES, by name."""
    versions = {}
    for distribution in importlib.metadata.distributions():
        name = (distribution.metadata["Name"] or "").lower().replace("_", "-")
        if name.startswith("dbt-") or name in LIBRARIES:
            versions[name] = distribution.version
    return dict(sorted(versions.items()))


def code_digest(project_dir: Path, variables: Mapping[str, Any] | None = None) -> str:
    """A digest of the code the project's own tests test: the project's files (by path and
    content), the library versions and the build's vars but the per-build ones."""
    digest = hashlib.sha256()
    for path in project_files(project_dir):
        digest.update(path.relative_to(project_dir).as_posix().encode("utf-8"))
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    given = {name: value for name, value in (variables or {}).items() if name not in PER_BUILD_VARS}
    digest.update(json.dumps([library_versions(), given], sort_keys=True).encode("utf-8"))
    return digest.hexdigest()[:16]


def types_digest(con: duckdb.DuckDBPyConnection, schema: str) -> str:
    """A digest of the columns (name and type, in order) of every relation of the build schema
    `schema` and the schemas beside it, and of the landing tables."""
    rows = column_types(
        con,
        "table_schema = ? or table_schema = ? or starts_with(table_schema, ?)",
        [LANDING_SCHEMA, schema, f"{schema}_"],
    )
    return digest_of([[placeholder(table_schema, schema), *rest] for table_schema, *rest in rows])


def landing_types_digest(con: duckdb.DuckDBPyConnection) -> str:
    """A digest of the landing tables' columns (name and type, in order)."""
    return digest_of(column_types(con, "table_schema = ?", [LANDING_SCHEMA]))


def column_types(con: duckdb.DuckDBPyConnection, schemas: str, parameters: list[str]) -> list[list[str]]:
    """Schema, table, column and type of every column of the schemas `schemas` selects, in order."""
    rows = con.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        f"where table_catalog = current_database() and ({schemas}) "
        "order by table_schema, table_name, ordinal_position",
        parameters,
    ).fetchall()
    return [list(row) for row in rows]


def digest_of(rows: list[list[str]]) -> str:
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()[:16]


def placeholder(table_schema: str, schema: str) -> str:
    """A build schema's name with the build's own part replaced (landing stays landing)."""
    return table_schema if table_schema == LANDING_SCHEMA else BUILD_PLACEHOLDER + table_schema[len(schema) :]


def last_passed(con: duckdb.DuckDBPyConnection) -> Passed | None:
    """What the project's own tests last passed on in this warehouse (None: never)."""
    if not meta_table_exists(con, PASSED_TABLE):
        return None
    row = con.execute(f"select code_digest, types_digest from meta.{ident(PASSED_TABLE)}").fetchone()
    return Passed(row[0], row[1]) if row else None


def record_passed(con: duckdb.DuckDBPyConnection, passed: Passed, run_id: int) -> None:
    """Keep what the tests passed on (one row; the caller's transaction publishes it with the
    build, so a failed build records nothing)."""
    columns = {"code_digest": "varchar not null", "types_digest": "varchar not null", "run_id": "bigint"}
    keep_one_row(con, PASSED_TABLE, columns, [passed.code, passed.types, run_id], stamp="passed_at")


def skip_args() -> list[str]:
    """dbt arguments that leave the project's own tests out of a build."""
    return ["--exclude-resource-type", "unit_test", "--exclude", f"tag:{SQL_TAG}"]


def select_args() -> list[str]:
    """dbt arguments that select the project's own tests alone (for `dbt test`)."""
    return ["--select", "test_type:unit", f"tag:{SQL_TAG}"]


def is_project_test(resource_type: str, tags: list[str]) -> bool:
    """A unit test, or a data test tagged SQL_TAG."""
    return resource_type == "unit_test" or (resource_type == "test" and SQL_TAG in tags)
