"""Which landing rows a build's row tests check (pipeline/landing_checks.py): only the loads a
build on the same code and landing columns has not checked, recorded with the published build."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from pipeline.build import Checks, publish
from pipeline.landing_checks import (
    CHECK_ALL,
    Checked,
    checked_through,
    last_checked,
    newest_load,
    read_through,
)
from pipeline.project_tests import landing_types_digest


def test_only_a_check_by_the_same_code_on_the_same_landing_columns_spares_the_old_loads() -> None:
    checked = Checked(41, "c" * 16, "t" * 16)
    assert checked_through(checked, "c" * 16, "t" * 16) == 41
    assert checked_through(None, "c" * 16, "t" * 16) == CHECK_ALL
    assert checked_through(checked, "d" * 16, "t" * 16) == CHECK_ALL
    assert checked_through(checked, "c" * 16, "u" * 16) == CHECK_ALL


def test_only_the_published_builds_own_record_on_the_same_code_says_which_loads_it_read() -> None:
    """A model may keep the published build's rows only for loads that build read on this code
    and these landing columns; a record some earlier build left (the published build recorded
    nothing, its code having changed while it ran) is no evidence of what the published one read."""
    checked = Checked(41, "c" * 16, "t" * 16, run_id=7)
    assert read_through(checked, 7, "c" * 16, "t" * 16) == 41
    assert read_through(checked, 8, "c" * 16, "t" * 16) == CHECK_ALL
    assert read_through(checked, None, "c" * 16, "t" * 16) == CHECK_ALL
    assert read_through(None, 7, "c" * 16, "t" * 16) == CHECK_ALL
    assert read_through(checked, 7, "d" * 16, "t" * 16) == CHECK_ALL
    assert read_through(checked, 7, "c" * 16, "u" * 16) == CHECK_ALL


def test_the_newest_load_is_the_largest_load_id_and_none_checks_everything(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert newest_load(con) == CHECK_ALL  # landing made by hand: no load log yet
        con.execute("create schema meta")
        assert newest_load(con) == CHECK_ALL
        con.execute("create table meta.loads (load_id bigint)")
        assert newest_load(con) == CHECK_ALL
        con.execute("insert into meta.loads values (3), (12), (7)")
        assert newest_load(con) == 12


def test_the_landing_types_digest_sees_a_landing_column_and_nothing_else(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema landing")
        con.execute("create table landing.benefit_weeks (person_key varchar, week_start date)")
        first = landing_types_digest(con)
        con.execute("create schema provmon_build_1")
        con.execute("create table provmon_build_1.mart (n integer)")
        assert landing_types_digest(con) == first
        con.execute("alter table landing.benefit_weeks add column note varchar")
        assert landing_types_digest(con) != first


def test_what_the_landing_rows_were_checked_through_is_published_with_the_build(tmp_path: Path) -> None:
    """Recorded in the build's publishing transaction; a build that records nothing (its code
    changed while dbt ran) leaves the record as it was."""
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema meta")
        assert last_checked(con) is None
    # Per build: what it recorded (None: nothing) and what is on record after it.
    builds = [
        (Checked(9, "c" * 16, "t" * 16), Checked(9, "c" * 16, "t" * 16)),
        (None, Checked(9, "c" * 16, "t" * 16)),
        (Checked(11, "c" * 16, "u" * 16), Checked(11, "c" * 16, "u" * 16)),
    ]
    for run_id, (recorded, on_record) in enumerate(builds, 1):
        publish(
            warehouse,
            f"provmon_build_{run_id}",
            (),
            dt.date(2024, run_id, 28),
            run_id,
            Checks(landing=recorded),
        )
        with duckdb.connect(str(warehouse)) as con:
            assert last_checked(con) == on_record
            # the run that recorded it: this build, unless it recorded nothing
            assert last_checked(con).run_id == (run_id if recorded else run_id - 1)
            assert con.execute("select count(*) from meta.landing_rows_checked").fetchone()[0] == 1
