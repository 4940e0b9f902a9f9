"""Every accepted dialect loads the same values as the plain file, and the plain file loads
the values a person reads in it (converted here with plain Python, not the ingestion code)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.contract import Column, load_contract
from pipeline.ingest import ingest_paths
from tests.fixtures.raw_fixtures import (
    KEY,
    PERSONS,
    PLAIN,
    delivery_path,
    landing_rows,
    person_key,
    plain_table,
    query,
    write_csv,
)

EXTRACTS = list(load_contract().extracts)


@pytest.fixture(scope="module")
def plain_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = tmp_path_factory.mktemp("plain") / "warehouse.duckdb"
    summary = ingest_paths(warehouse, PLAIN, KEY)
    assert (len(summary.files), summary.rows_quarantined, summary.refused) == (9, 0, [])
    return warehouse


# --- the plain file, read by hand -------------------------------------------------------------


def expected_value(col: Column, text: str) -> dict[str, object]:
    """What a person reads in a plain-dialect cell, as the landing column(s) should hold it."""
    value = text.strip() or None
    if col.type == "cpr":
        digits = value.replace("-", "")
        born, sex = PERSONS[digits]
        return {"person_key": person_key(digits), "birth_date": born, "sex": sex}
    if value is None:
        return {col.name: None}
    convert: dict[str, Callable[[str], object]] = {
        "text": str,
        "code": str.lower,
        "int": int,
        "decimal": float,
        "date": date.fromisoformat,
        "week": date.fromisoformat,
        "month": lambda v: date.fromisoformat(v + "-01"),
    }
    return {col.name: convert[col.type](value)}


@pytest.mark.parametrize("extract", EXTRACTS)
def test_the_plain_file_loads_the_values_it_holds(plain_warehouse: Path, extract: str) -> None:
    columns = load_contract().extracts[extract].columns
    header, rows = plain_table(extract)
    expected = []
    for row in rows:
        # an optional contract column the file does not have is NULL in landing
        record: dict[str, object] = {name: None for name in columns if name not in header}
        for name, text in zip(header, row, strict=True):
            record |= expected_value(columns[name], text)
        expected.append(record)
    assert landing_rows(plain_warehouse, extract) == expected


# --- the same rows in other dialects ----------------------------------------------------------


def retype(extract: str, convert: Callable[[Column, str], object]) -> tuple[list[str], list[list[object]]]:
    """The plain rows with every non-empty cell passed through convert(column, text)."""
    columns = load_contract().extracts[extract].columns
    header, rows = plain_table(extract)
    return header, [
        [convert(columns[h], v) if v else None for h, v in zip(header, row, strict=True)] for row in rows
    ]


def danish_csv(raw_dir: Path, extract: str) -> None:
    """';', Windows-1252, decimal comma, DD-MM-YYYY: an export from a Danish Excel."""

    def convert(col: Column, v: str) -> str:
        if col.type in ("date", "week"):
            return date.fromisoformat(v).strftime("%d-%m-%Y")
        return v.replace(".", ",") if col.type == "decimal" else v

    header, rows = retype(extract, convert)
    write_csv(
        delivery_path(raw_dir, extract), header, rows, delimiter=";", encoding="cp1252", line_end="\r\n"
    )


def bom_dotted_dates(raw_dir: Path, extract: str) -> None:
    """',' with a UTF-8 byte-order mark and DD.MM.YYYY dates."""

    def convert(col: Column, v: str) -> str:
        return date.fromisoformat(v).strftime("%d.%m.%Y") if col.type in ("date", "week") else v

    header, rows = retype(extract, convert)
    write_csv(delivery_path(raw_dir, extract), header, rows, encoding="utf-8-sig")


def quoted_upper_codes(raw_dir: Path, extract: str) -> None:
    """Every field quoted, CRLF line ends, codes in capitals, spaces around values."""
    header, rows = retype(extract, lambda col, v: v.upper() if col.type == "code" else f" {v} ")
    write_csv(delivery_path(raw_dir, extract), header, rows, line_end="\r\n", quote_all=True)


def messy_header(raw_dir: Path, extract: str) -> None:
    """Header names in other case with spaces around, columns reversed, an extra column."""
    header, rows = plain_table(extract)
    names = [f"  {h.upper()} " if i % 2 else h.title() for i, h in enumerate(header)]
    extra = [[f"note {i}", *reversed(row)] for i, row in enumerate(rows, start=1)]
    write_csv(delivery_path(raw_dir, extract), ["Bemærkning", *reversed(names)], extra)


def iso_weeks(raw_dir: Path, extract: str) -> None:
    """Weeks as ISO weeks YYYY-Www instead of their Monday."""

    def convert(col: Column, v: str) -> str:
        if col.type != "week":
            return v
        year, week, _ = date.fromisoformat(v).isocalendar()
        return f"{year}-W{week:02d}"

    header, rows = retype(extract, convert)
    write_csv(delivery_path(raw_dir, extract), header, rows)


def excel(raw_dir: Path, extract: str) -> None:
    """A workbook with typed cells, as a person saves it from Excel (months stay text)."""

    def convert(col: Column, v: str) -> object:
        if col.type in ("date", "week"):
            return date.fromisoformat(v)
        return {"int": int, "decimal": float}.get(col.type, str)(v)

    header, rows = retype(extract, convert)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.create_sheet("Noter").append(["not read: only the first sheet counts"])
    book.save(delivery_path(raw_dir, extract, "xlsx"))


def parquet(raw_dir: Path, extract: str) -> None:
    """Parquet with typed columns: dates and months as dates, numbers as numbers."""

    def convert(col: Column, v: str) -> object:
        if col.type in ("date", "week"):
            return date.fromisoformat(v)
        if col.type == "month":
            return date.fromisoformat(v + "-01")
        return {"int": int, "decimal": float}.get(col.type, str)(v)

    types = {
        "date": pa.date32(),
        "week": pa.date32(),
        "month": pa.date32(),
        "int": pa.int64(),
        "decimal": pa.float64(),
    }
    header, rows = retype(extract, convert)
    columns = load_contract().extracts[extract].columns
    table = pa.table(
        {
            h: pa.array([r[i] for r in rows], types.get(columns[h].type, pa.string()))
            for i, h in enumerate(header)
        }
    )
    pq.write_table(table, delivery_path(raw_dir, extract, "parquet"))


DIALECTS = [danish_csv, bom_dotted_dates, quoted_upper_codes, messy_header, iso_weeks, excel, parquet]


@pytest.mark.parametrize("write", DIALECTS, ids=[d.__name__ for d in DIALECTS])
def test_each_dialect_loads_the_same_values_as_the_plain_file(
    tmp_path: Path, plain_warehouse: Path, write: Callable[[Path, str], None]
) -> None:
    raw_dir, warehouse = tmp_path / "raw", tmp_path / "warehouse.duckdb"
    for extract in EXTRACTS:
        write(raw_dir, extract)
    summary = ingest_paths(warehouse, raw_dir, KEY)
    assert [f.status for f in summary.files] == ["loaded"] * len(EXTRACTS), summary.files
    assert summary.rows_quarantined == 0
    for extract in EXTRACTS:
        assert landing_rows(warehouse, extract) == landing_rows(plain_warehouse, extract), extract


def test_extra_columns_are_kept_as_json_and_otherwise_unused(tmp_path: Path) -> None:
    raw_dir, warehouse = tmp_path / "raw", tmp_path / "warehouse.duckdb"
    messy_header(raw_dir, "referrals")
    ingest_paths(warehouse, raw_dir, KEY)
    extras = [json.loads(r["_extra"]) for r in landing_rows(warehouse, "referrals", keep=("_extra",))]
    assert extras == [{"bemærkning": f"note {i}"} for i in range(1, 6)]


def test_windows_1252_characters_outside_latin1_come_out_right(tmp_path: Path) -> None:
    """€, – and curly quotes are where Windows-1252 and Latin-1 differ."""
    header, rows = plain_table("providers")
    rows[0][1] = "Jobvejen – “Øst” € ApS"
    raw_dir, warehouse = tmp_path / "raw", tmp_path / "warehouse.duckdb"
    write_csv(delivery_path(raw_dir, "providers"), header, rows, delimiter=";", encoding="cp1252")
    ingest_paths(warehouse, raw_dir, KEY)
    names = [r["provider_name"] for r in landing_rows(warehouse, "providers")]
    assert names == ["Jobvejen – “Øst” € ApS", "Ørestad Mentorhus", "Bæk & Søn, Rådgivning"]


def test_a_workbook_read_in_several_chunks_loads_every_row_once(
    tmp_path: Path, plain_warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pipeline.ingest.dialects._XLSX_CHUNK", 2)
    raw_dir, warehouse = tmp_path / "raw", tmp_path / "warehouse.duckdb"
    excel(raw_dir, "referrals")
    ingest_paths(warehouse, raw_dir, KEY)
    rows = landing_rows(warehouse, "referrals", keep=("_row_number",))
    assert [r.pop("_row_number") for r in rows] == [1, 2, 3, 4, 5]
    assert rows == landing_rows(plain_warehouse, "referrals")


def test_an_excel_sep_line_names_the_separator_and_line_numbers_count_it(tmp_path: Path) -> None:
    header, rows = plain_table("paid_hours")
    rows.insert(1, [*rows[1], "an extra field"])
    raw_dir, warehouse = tmp_path / "raw", tmp_path / "warehouse.duckdb"
    path = write_csv(delivery_path(raw_dir, "paid_hours"), header, rows, delimiter=";")
    path.write_text("sep=;\n" + path.read_text())
    ingest_paths(warehouse, raw_dir, KEY)
    loaded = landing_rows(warehouse, "paid_hours", keep=("_row_number",))
    assert [r["_row_number"] for r in loaded] == [1, 3, 4, 5, 6]
    [(row, line, reason)] = query(warehouse, "SELECT row_number, line_number, reason FROM quarantine.rows")
    assert (row, line) == (2, 4)  # line 1 is sep=;, line 2 the header
    assert reason.startswith("the row has 4 fields but the header has 3")
