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
What was checked is kept in meta.landing_rows_checked, written when the build is published.

The same record says which loads the published build read: a model that keeps the published
build's rows (the benefit spells) is given READ_VAR, the newest load that build read, when the
record is that build's own and its code and landing columns are this build's; the model then
recomputes only what the later loads touch."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pipeline.sql import ident
from pipeline.warehouse import keep_one_row, meta_table_exists

# The dbt var with the largest load id whose landing rows need no new check (0: check them all).
LANDING_VAR = "landing_rows_checked_through"
CHECK_ALL = 0
# The dbt var with the newest load the published build read on this build's code and landing
# columns (0: nothing may be kept from it).
READ_VAR = "previous_build_loads_through"
CHECKED_TABLE = "landing_rows_checked"


@dataclass(frozen=True)
class Checked:
    """Every landing row of the loads up to `through` passed the row tests of the code with
    digest `code`, on landing columns with digest `types`."""

    through: int
    code: str
    types: str
    # The build that checked them, as recorded (None while building); not part of what was checked.
    run_id: int | None = field(default=None, compare=False)


def checked_through(checked: Checked | None, code: str, types: str) -> int:
    """The var for a build on `code` and landing columns `types`: the loads already checked, if
    they were checked by the same tests on the same columns."""
    if checked is None or checked.code != code or checked.types != types:
        return CHECK_ALL
    return checked.through


def read_through(checked: Checked | None, published_run: int | None, code: str, types: str) -> int:
    """The var READ_VAR for a build on `code` and landing columns `types`: the loads the
    published build (run `published_run`) read, if the record is that build's own and it ran on
    the same code and columns. A record left by an earlier build (the published one recorded
    nothing, its code having changed while it ran) gives nothing."""
    if checked is None or published_run is None or checked.run_id != published_run:
        return CHECK_ALL
    return checked_through(checked, code, types)


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
        f"select through_load_id, code_digest, types_digest, run_id from meta.{ident(CHECKED_TABLE)}"
    ).fetchone()
    return Checked(int(row[0]), row[1], row[2], row[3]) if row else None


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
