"""Which landing rows a build's row tests check.

The landing tables only grow: ingest appends each delivery under a new load id (meta.loads, one
more than the largest so far) and never changes a row it wrote. A row test (not null, accepted
values, a key within a load) on a staging view that renames one landing table therefore has
nothing new to say about a row it passed before, as long as the test itself and the landing
columns are the same. At national scale the benefit weeks' row tests scan 10^8 rows for about
half a minute of every build (issue 19).

So a build on the same code and the same landing columns as the build that last checked the
rows passes the dbt var LANDING_VAR, the largest load id checked then, and those tests check
only the rows of later loads (their `where` config, dbt_project/models/staging/landing). The
first build, `--full-refresh`, a changed code digest (pipeline/project_tests.py: the project's
files, the libraries and the vars) or a change of the landing columns check every row again.
What was checked is kept in meta.landing_rows_checked, written when the build is published."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pipeline.sql import ident
from pipeline.warehouse import keep_one_row, meta_table_exists

# The dbt var with the largest load id whose landing rows need no new check (0: check them all).
LANDING_VAR = "landing_rows_checked_through"
CHECK_ALL = 0
CHECKED_TABLE = "landing_rows_checked"


@dataclass(frozen=True)
class Checked:
    """Every landing row of the loads up to `through` passed the row tests of the code with
    digest `code`, on landing columns with digest `types`."""

    through: int
    code: str
    types: str


def checked_through(checked: Checked | None, code: str, types: str) -> int:
    """The var for a build on `code` and landing columns `types`: the loads already checked, if
    they were checked by the same tests on the same columns."""
    if checked is None or checked.code != code or checked.types != types:
        return CHECK_ALL
    return checked.through


def newest_load(con: duckdb.DuckDBPyConnection) -> int:
    """The largest load id so far, read before dbt runs: the rows of it and every earlier load
    are in landing (ingest writes a load's rows and its id in one transaction). An ingest while
    dbt runs adds a later load, which the record then does not claim. Without a load log
    (landing tables made by hand) nothing counts as checked."""
    if not meta_table_exists(con, "loads"):
        return CHECK_ALL
    row = con.execute("select max(load_id) from meta.loads").fetchone()
    return int(row[0]) if row and row[0] is not None else CHECK_ALL


def last_checked(con: duckdb.DuckDBPyConnection) -> Checked | None:
    """What the last published build checked (None: nothing recorded)."""
    if not meta_table_exists(con, CHECKED_TABLE):
        return None
    row = con.execute(
        f"select through_load_id, code_digest, types_digest from meta.{ident(CHECKED_TABLE)}"
    ).fetchone()
    return Checked(int(row[0]), row[1], row[2]) if row else None


def record_checked(con: duckdb.DuckDBPyConnection, checked: Checked, run_id: int) -> None:
    """Keep what the build checked (one row; the caller's transaction publishes it with the
    build, so a failed build records nothing)."""
    columns = {
        "through_load_id": "bigint not null",
        "code_digest": "varchar not null",
        "types_digest": "varchar not null",
        "run_id": "bigint",
    }
    values = [checked.through, checked.code, checked.types, run_id]
    keep_one_row(con, CHECKED_TABLE, columns, values, stamp="checked_at")
