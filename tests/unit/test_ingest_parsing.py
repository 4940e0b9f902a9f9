"""Typed parsing of the contract's column types (rows.parse_expr), evaluated in DuckDB and
compared with Python's own date, ISO-calendar and float parsing."""

from __future__ import annotations

from datetime import date, datetime

import duckdb

from pipeline.contract import Column
from pipeline.ingest.checks import parse_expr
from pipeline.ingest.sql import MACROS


def parse(col_type: str, values: list[str], **rules: object) -> list[object]:
    """Values as ingestion types them (the text is already trimmed and non-empty there)."""
    col = Column(name="x", type=col_type, **rules)
    with duckdb.connect() as con:
        con.execute('CREATE TABLE v (i INTEGER, "t:x" VARCHAR)')
        con.executemany("INSERT INTO v VALUES (?, ?)", list(enumerate(values)))
        return [row[0] for row in con.execute(f"SELECT {parse_expr(col)} FROM v ORDER BY i").fetchall()]


def python_date(text: str) -> date | None:
    """The contract's date formats read by Python's strptime (which wants 4-digit years)."""
    for fmt in ("%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


DATES = [
    "2024-01-31", "31-01-2024", "31.01.2024", "1.2.2024", "2024-2-1", "29.02.2024", "29-02-2023",
    "2023-02-29", "24-01-31", "31-01-24", "31/01/2024", "2024-01-31x", "20240131", "2024-13-01",
    "00.01.2024", "i går", "2024.01.31", "31-01.2024", "2024-0a-01", "-024-01-01", "0024-01-01",
    "2024-01-31 00:00", "2024/01/31", "+024-01-01",
]  # fmt: skip


def test_dates_parse_as_python_reads_the_three_formats() -> None:
    expected = [python_date(v) for v in DATES]
    assert any(e is None for e in expected) and any(e is not None for e in expected)
    assert parse("date", DATES) == expected


def test_iso_weeks_are_the_monday_python_gives_and_nonexistent_weeks_are_rejected() -> None:
    values, expected = [], []
    for year in range(2015, 2031):
        for week in range(0, 55):
            values.append(f"{year}-W{week:02d}")
            try:
                expected.append(date.fromisocalendar(year, week, 1))
            except ValueError:
                expected.append(None)
    assert None in expected  # weeks 0, 54 and 53 of 52-week years
    assert parse("week", values) == expected


def test_week_accepts_a_date_lowercase_w_and_no_hyphen() -> None:
    assert (
        parse("week", ["2024w05", "2024-w05", "2024W05", "29.01.2024", "2024-01-29"])
        == [date(2024, 1, 29)] * 5
    )


def test_months_are_the_first_day_and_accept_the_first_as_a_date() -> None:
    values = ["2024-01", "2024-1", "2024-12", "2024-01-01", "2024-13", "2024-01-15", "01-2024", "2024/01"]
    assert parse("month", values) == [
        date(2024, 1, 1), date(2024, 1, 1), date(2024, 12, 1), date(2024, 1, 1), None, None, None, None,
    ]  # fmt: skip


VALID_DECIMALS = ["12.5", "12,5", "0", "-3", "+4", ".5", ",5", "7.", "1e3", "2500.50", "0,25"]
INVALID_DECIMALS = ["1.234,5", "1 000", "12,5,0", "abc", "1_000", "0x10", "nan", "inf", "12.5 kr"]


def test_decimals_take_comma_or_point_and_nothing_else() -> None:
    got = parse("decimal", VALID_DECIMALS + INVALID_DECIMALS)
    assert got == [float(v.replace(",", ".")) for v in VALID_DECIMALS] + [None] * len(INVALID_DECIMALS)


def test_whole_numbers_allow_a_zero_fraction_only() -> None:
    assert parse("int", ["3", "-2", "+7", "3.0", "3,00", "2.5", "1e3", "x", "99999999999"]) == [
        3, -2, 7, 3, 3, None, None, None, None,
    ]  # fmt: skip


def test_codes_are_case_insensitive_and_stored_lower_case() -> None:
    assert parse("code", ["VIRK", "virk", "Mest", "xyz"], codes=["virk", "mest"]) == [
        "virk",
        "virk",
        "mest",
        None,
    ]


def test_values_are_trimmed_of_spaces_tabs_line_ends_and_no_break_spaces_only_at_their_ends() -> None:
    values = [" a ", "\ta b\r", "\u00a0Nørrebro\u00a0", "x", "   ", "", "\n", "inner  space"]
    with duckdb.connect() as con:
        for macro in MACROS:
            con.execute(macro)
        got = [con.execute("SELECT clean_text(?)", [v]).fetchone()[0] for v in values]
    assert got == [v.strip(" \t\r\n\u00a0") or None for v in values]
