"""`provmon build` refuses bad situations with one actionable line: no warehouse, missing
landing tables, nothing loaded, a warehouse locked by another process, a failing dbt test."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.build import BuildError, build
from pipeline.contract import load_contract
from pipeline.settings import Settings
from pipeline.warehouse import WarehouseError

pytestmark = pytest.mark.integration

# DuckDB types of the landing tables (docs/warehouse.md), by contract column type.
LANDING_TYPES = {
    "text": "varchar",
    "int": "integer",
    "decimal": "double",
    "date": "date",
    "month": "date",
    "week": "date",
    "code": "varchar",
}
META = "_load_id bigint, _file varchar, _delivery_date date, _row_number bigint, _extra varchar"


def landing_ddl(extract: str) -> str:
    columns = []
    for column in load_contract().extracts[extract].columns.values():
        if column.type == "cpr":
            columns += ["person_key varchar", "birth_date date", "sex varchar"]
        else:
            columns.append(f"{column.name} {LANDING_TYPES[column.type]}")
    return f"create table landing.{extract} ({', '.join(columns)}, {META})"


def warehouse_with(path: Path, extracts: list[str]) -> Settings:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema landing")
        for extract in extracts:
            con.execute(landing_ddl(extract))
    return Settings.resolve(warehouse=str(path))


def test_missing_warehouse(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"does not exist; load deliveries first with provmon ingest"):
        build(Settings.resolve(warehouse=str(tmp_path / "none.duckdb")))


def test_missing_landing_tables_are_named(tmp_path: Path) -> None:
    settings = warehouse_with(tmp_path / "w.duckdb", ["providers", "referrals"])
    with pytest.raises(BuildError) as caught:
        build(settings)
    message = str(caught.value)
    assert "agreements" in message and "attendance" in message and "provmon ingest" in message
    assert "referrals," not in message and "providers," not in message


def test_no_referrals_and_no_as_of(tmp_path: Path) -> None:
    settings = warehouse_with(tmp_path / "w.duckdb", list(load_contract().extracts))
    with pytest.raises(BuildError, match=r"no referrals are loaded.*--as-of"):
        build(settings)


def test_locked_warehouse(tmp_path: Path) -> None:
    settings = warehouse_with(tmp_path / "w.duckdb", list(load_contract().extracts))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "time.sleep(60)",
            str(settings.warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseError, match=r"in use by another process"):
            build(settings, as_of=dt.date(2024, 6, 30))
    finally:
        holder.kill()
        holder.wait()


def test_a_failing_dbt_test_is_named_on_one_line(tmp_path: Path) -> None:
    """A tender area outside 1-4 (which ingestion would have quarantined) fails the staging
    accepted_values test, and the error names that test."""
    settings = warehouse_with(tmp_path / "w.duckdb", list(load_contract().extracts))
    with duckdb.connect(str(settings.warehouse)) as con:
        con.execute(
            "insert into landing.agreements (agreement_id, provider_id, tender_area, offer_code, "
            "price_model, price_dkk, valid_from, _load_id, _delivery_date, _row_number) values "
            "('A1', 'P1', 5, 'virk', 'week', 1000, date '2024-01-01', 1, date '2024-01-05', 1)"
        )
    with pytest.raises(BuildError) as caught:
        build(settings, as_of=dt.date(2024, 6, 30))
    message = str(caught.value)
    assert "\n" not in message
    assert "accepted_values_stg_landing__agreements_tender_area" in message
    assert "Got 1 result" in message
