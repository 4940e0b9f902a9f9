"""The project digest that decides whether a build runs the dbt project's own tests
(pipeline/project_tests.py): it moves with anything that changes what the SQL does on fixed rows,
and with nothing else."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from pipeline.build import PROJECT_DIR, publish, published_project_digest
from pipeline.project_tests import SQL_TAG, is_project_test, project_digest, project_files, skip_args


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
    first = project_digest(project, {"min_n": 30})
    assert project_digest(project, {"min_n": 30}) == first
    per_build = {"as_of": "2024-05-31", "previous_build_schema": "provmon_build_7"}
    assert project_digest(project, {"min_n": 30, **per_build}) == first
    assert project_digest(PROJECT_DIR, {"min_n": 30}) == first  # outputs and docs do not count


def test_a_changed_model_macro_yml_or_var_changes_the_digest(project: Path) -> None:
    before = project_digest(project)
    assert project_digest(project, {"min_n": 31}) != before
    for relative in (
        "models/intermediate/measures/int_referral_measures_unpivoted.sql",
        "macros/risk_base.sql",
        "models/intermediate/risk/_risk__models.yml",
        "dbt_project.yml",
    ):
        path = project / relative
        original = path.read_bytes()
        path.write_bytes(original + b"\n-- changed\n")
        assert project_digest(project) != before, relative
        path.write_bytes(original)
    assert project_digest(project) == before


def test_docs_and_dbt_output_do_not_change_the_digest(project: Path) -> None:
    before = project_digest(project)
    (project / "README.md").write_text("other words\n", encoding="utf-8")
    (project / "target").mkdir()
    (project / "target" / "compiled.sql").write_text("select 1\n", encoding="utf-8")
    (project / "logs").mkdir()
    (project / "logs" / "dbt.yml").write_text("a: 1\n", encoding="utf-8")
    assert project_digest(project) == before


def test_a_moved_file_changes_the_digest(project: Path) -> None:
    before = project_digest(project)
    source = project / "macros" / "risk_base.sql"
    source.rename(project / "macros" / "risk_base_moved.sql")
    assert project_digest(project) != before


def test_skipping_leaves_out_unit_tests_and_the_tagged_tests() -> None:
    args = skip_args()
    assert args[args.index("--exclude-resource-type") + 1] == "unit_test"
    assert args[args.index("--exclude") + 1] == f"tag:{SQL_TAG}"
    assert is_project_test("unit_test", [])
    assert is_project_test("test", [SQL_TAG])
    assert not is_project_test("test", ["other"])
    assert not is_project_test("model", [SQL_TAG])


def test_a_warehouse_published_before_the_digest_runs_the_tests_once_then_records_it(tmp_path: Path) -> None:
    """meta.published_build of an older warehouse has no project_digest: its next build runs
    the project's own tests (no digest to match) and publishing adds the column."""
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema meta")
        con.execute(
            "create table meta.published_build (build_schema varchar not null, as_of date not null, "
            "run_id bigint, published_at timestamp not null)"
        )
        con.execute("insert into meta.published_build values ('provmon_build_1', '2024-05-31', 1, now())")
    assert published_project_digest(warehouse) is None
    publish(warehouse, "provmon_build_2", (), dt.date(2024, 6, 30), 2, "0123456789abcdef")
    assert published_project_digest(warehouse) == "0123456789abcdef"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select build_schema, run_id from meta.published_build").fetchall() == [
            ("provmon_build_2", 2)
        ]
