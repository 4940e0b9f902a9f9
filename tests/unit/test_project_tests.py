"""The project digest that decides whether a build runs the dbt project's own tests
(pipeline/project_tests.py): it moves with anything that changes what the SQL does on fixed rows,
and with nothing else."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from pipeline import project_tests
from pipeline.build import PROJECT_DIR, Checks, publish
from pipeline.project_tests import (
    SQL_TAG,
    Passed,
    code_digest,
    is_project_test,
    last_passed,
    project_files,
    select_args,
    skip_args,
    types_digest,
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's sources (not its outputs)."""
    copy = tmp_path / "dbt_project"
    for path in project_files(PROJECT_DIR):
        target = copy / path.relative_to(PROJECT_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    return copy


def test_the_digest_is_the_same_for_the_same_project_whatever_the_per_build_vars(project: Path) -> None:
    first = code_digest(project, {"min_n": 30})
    assert code_digest(project, {"min_n": 30}) == first
    per_build = {
        "as_of": "2024-05-31",
        "previous_build_schema": "provmon_build_7",
        "landing_rows_checked_through": 12,
        "previous_build_loads_through": 12,
    }
    assert code_digest(project, {"min_n": 30, **per_build}) == first
    assert code_digest(PROJECT_DIR, {"min_n": 30}) == first  # outputs and docs do not count


def test_a_changed_model_macro_yml_or_var_changes_the_digest(project: Path) -> None:
    before = code_digest(project)
    assert code_digest(project, {"min_n": 31}) != before
    for relative in (
        "models/intermediate/measures/int_referral_measures_unpivoted.sql",
        "macros/risk_base.sql",
        "models/intermediate/risk/_risk__models.yml",
        "dbt_project.yml",
    ):
        path = project / relative
        original = path.read_bytes()
        path.write_bytes(original + b"\n-- changed\n")
        assert code_digest(project) != before, relative
        path.write_bytes(original)
    assert code_digest(project) == before


def test_docs_and_dbt_output_do_not_change_the_digest(project: Path) -> None:
    before = code_digest(project)
    (project / "README.md").write_text("other words\n", encoding="utf-8")
    (project / "target").mkdir()
    (project / "target" / "compiled.sql").write_text("select 1\n", encoding="utf-8")
    (project / "logs").mkdir()
    (project / "logs" / "dbt.yml").write_text("a: 1\n", encoding="utf-8")
    assert code_digest(project) == before


def test_a_moved_file_changes_the_digest(project: Path) -> None:
    before = code_digest(project)
    source = project / "macros" / "risk_base.sql"
    source.rename(project / "macros" / "risk_base_moved.sql")
    assert code_digest(project) != before


def test_skipping_leaves_out_unit_tests_and_the_tagged_tests() -> None:
    args = skip_args()
    assert args[args.index("--exclude-resource-type") + 1] == "unit_test"
    assert args[args.index("--exclude") + 1] == f"tag:{SQL_TAG}"
    assert is_project_test("unit_test", [])
    assert is_project_test("test", [SQL_TAG])
    assert not is_project_test("test", ["other"])
    assert not is_project_test("model", [SQL_TAG])
    assert select_args()[1:] == ["test_type:unit", f"tag:{SQL_TAG}"]


def test_a_changed_library_changes_the_digest(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = code_digest(project)
    versions = project_tests.library_versions()
    assert {"dbt-core", "dbt-adapters", "dbt-duckdb", "duckdb", "jinja2"} <= set(versions)
    monkeypatch.setattr(project_tests, "library_versions", lambda: {**versions, "dbt-adapters": "0.0.1"})
    assert code_digest(project) != before


def test_the_types_digest_compares_two_builds_schemas_by_their_columns_alone(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        for schema in ("landing", "provmon_build_1", "provmon_build_1_staging", "provmon_build_2"):
            con.execute(f"create schema {schema}")
        con.execute("create table landing.referrals (referral_id varchar, booked_on date)")
        con.execute("create table provmon_build_1_staging.stg (referral_id varchar, n integer)")
        con.execute("create table provmon_build_1.mart (referral_id varchar, rate double)")
        first = types_digest(con, "provmon_build_1")
        con.execute("create schema provmon_build_2_staging")
        con.execute("create table provmon_build_2_staging.stg (referral_id varchar, n integer)")
        con.execute("create table provmon_build_2.mart (referral_id varchar, rate double)")
        assert types_digest(con, "provmon_build_2") == first
        con.execute("create or replace table provmon_build_2.mart (referral_id varchar, rate integer)")
        assert types_digest(con, "provmon_build_2") != first
        con.execute("create or replace table provmon_build_2.mart (referral_id varchar, rate double)")
        con.execute("alter table landing.referrals add column note varchar")
        assert types_digest(con, "provmon_build_2") != first


def test_what_the_tests_passed_on_is_kept_beside_the_published_build_without_changing_it(
    tmp_path: Path,
) -> None:
    """A warehouse without the record runs the tests; publishing records what they passed on in
    a table of its own, so meta.published_build keeps the columns older releases insert into."""
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema meta")
        assert last_passed(con) is None
    publish(warehouse, "provmon_build_1", (), dt.date(2024, 5, 31), 1, Checks(Passed("c" * 16, "t" * 16)))
    publish(warehouse, "provmon_build_2", (), dt.date(2024, 6, 30), 2, Checks())  # skipped: kept as it was
    with duckdb.connect(str(warehouse)) as con:
        assert last_passed(con) == Passed("c" * 16, "t" * 16)
        con.execute("insert into meta.published_build values ('provmon_build_3', '2024-07-31', 3, now())")
