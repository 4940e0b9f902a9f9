"""Damaged CSV deliveries lose nothing silently (issue 13): a quote that runs over its line,
lines in another encoding, NUL bytes. Rows read = the file's records, counted here with
plain Python; what cannot be a row is quarantined with its line, or the file is refused."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl

from pipeline.ingest import FileResult, ingest_paths
from pipeline.ingest.config import load_config
from tests.fixtures.raw_fixtures import KEY, delivery_path, plain_table, query

BIG = 200_000


def referral_lines(count: int) -> tuple[str, list[str]]:
    """The header and `count` rows of the plain referrals (ids made unique), as CSV lines:
    the plain rows hold neither separators nor quotes."""
    header, rows = plain_table("referrals")
    lines = []
    for i in range(count):
        row = list(rows[i % len(rows)])
        row[0] = f"R{i + 1:06d}"
        lines.append(",".join(row))
    return ",".join(header), lines


def write_lines(raw_dir: Path, header: str, lines: list[str], encoding: str = "utf-8") -> Path:
    path = delivery_path(raw_dir, "referrals")
    path.write_bytes(("\n".join([header, *lines]) + "\n").encode(encoding))
    return path


def load_lines(tmp_path: Path, header: str, lines: list[str]) -> FileResult:
    """Ingest the lines as the only delivery into tmp_path/wh.duckdb."""
    write_lines(tmp_path / "raw", header, lines)
    [result] = ingest_paths(tmp_path / "wh.duckdb", tmp_path / "raw", KEY).files
    return result


def counts(result: FileResult) -> tuple[str, int, int, int]:
    return (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined)


def stray_quote(line: str) -> str:
    """The line with its last value (jobcenter_unit) opened by a quote that is never closed."""
    return line.rsplit(",", 1)[0] + ',"Jobcenter Nord'


def test_a_quote_that_runs_past_its_line_costs_that_line_only(tmp_path: Path) -> None:
    header, lines = referral_lines(BIG)
    for row in (6, 150_000):  # lines 7 and 150,001 of the file
        lines[row - 1] = stray_quote(lines[row - 1])
    result = load_lines(tmp_path, header, lines)
    assert counts(result) == ("loaded", BIG, BIG - 2, 2)
    quarantined = query(
        tmp_path / "wh.duckdb",
        "SELECT row_number, line_number, column_name, reason, record FROM quarantine.rows ORDER BY 1",
    )
    assert [q[:3] for q in quarantined] == [(6, 7, None), (150_000, 150_001, None)]
    assert all(q[3].startswith("a quote opened in this line is not closed in it") for q in quarantined)
    assert json.loads(quarantined[0][4])["line"] == stray_quote(lines[5]).replace(
        "010150-5001", "010150-****"
    )
    landed = query(
        tmp_path / "wh.duckdb", "SELECT referral_id, _row_number FROM landing.referrals ORDER BY 2"
    )
    assert landed == [(f"R{row:06d}", row) for row in range(1, BIG + 1) if row not in (6, 150_000)]


def test_a_quote_closed_on_a_later_line_into_a_broken_row_costs_the_two_lines(tmp_path: Path) -> None:
    header, lines = referral_lines(40)
    lines[9] = stray_quote(lines[9])  # row 10
    lines[19] = lines[19].rsplit(",", 1)[0] + ',Syd",x'  # row 20 closes it, with a field too many
    result = load_lines(tmp_path, header, lines)
    assert counts(result) == ("loaded", 40, 38, 2)
    reasons = query(tmp_path / "wh.duckdb", "SELECT row_number, reason FROM quarantine.rows ORDER BY 1")
    assert [r for r, _ in reasons] == [10, 20]
    assert "quote" in reasons[0][1] and "the row has 14 fields but the header has 13" in reasons[1][1]


def test_runaway_quotes_in_a_windows_1252_file_with_a_sep_line_keep_rows_and_lines(tmp_path: Path) -> None:
    header, lines = referral_lines(9)
    for row in (2, 8):
        lines[row - 1] = stray_quote(lines[row - 1])
    path = delivery_path(tmp_path / "raw", "referrals")
    path.write_bytes("\r\n".join(["sep=,", header, *lines, ""]).encode("cp1252"))
    [result] = ingest_paths(tmp_path / "wh.duckdb", tmp_path / "raw", KEY).files
    assert counts(result) == ("loaded", 9, 7, 2)
    assert query(
        tmp_path / "wh.duckdb", "SELECT row_number, line_number FROM quarantine.rows ORDER BY 1"
    ) == [
        (2, 4),
        (8, 10),
    ]
    landed = query(
        tmp_path / "wh.duckdb", "SELECT _row_number, jobcenter_unit FROM landing.referrals ORDER BY 1"
    )
    assert landed == [(r, lines[r - 1].rsplit(",", 1)[1] or None) for r in (1, 3, 4, 5, 6, 7, 9)]


def test_a_file_with_more_runaway_quotes_than_allowed_is_refused_whole(tmp_path: Path) -> None:
    allowed = load_config().csv.max_runaway_quotes
    header, lines = referral_lines(2 * allowed + 4)
    for row in range(2, 2 * allowed + 4, 2):  # allowed + 1 of them
        lines[row - 1] = stray_quote(lines[row - 1])
    result = load_lines(tmp_path, header, lines)
    assert result.status == "refused"
    expected = f"line {2 * allowed + 3} and {allowed} lines before it open a quote that is not closed"
    assert result.message.startswith(expected)
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM landing.referrals") == [(0,)]


def test_a_quoted_line_break_that_closes_is_a_value_and_a_quote_closed_early_costs_its_line(
    tmp_path: Path,
) -> None:
    header, lines = referral_lines(9)
    lines[2] = lines[2].rsplit(",", 1)[0] + ',"Jobcenter\nAmager"'  # row 3, lines 4-5
    lines[6] = lines[6].rsplit(",", 1)[0] + ',"Jobcenter" Valby'  # row 7, line 9
    result = load_lines(tmp_path, header, lines)
    assert counts(result) == ("loaded", 9, 8, 1)
    units = query(
        tmp_path / "wh.duckdb", "SELECT jobcenter_unit FROM landing.referrals WHERE referral_id = 'R000003'"
    )
    assert units == [("Jobcenter\nAmager",)]
    [(row, reason)] = query(tmp_path / "wh.duckdb", "SELECT row_number, reason FROM quarantine.rows")
    assert row == 7 and "quote" in reason


def test_a_windows_1252_line_in_a_utf8_file_is_quarantined_and_the_rest_keeps_its_letters(
    tmp_path: Path,
) -> None:
    header, lines = referral_lines(9)
    lines[3] = lines[3].rsplit(",", 1)[0] + ",Jobcenter Høje-Tåstrup"  # row 4, line 5
    raw_dir = tmp_path / "raw"
    path = delivery_path(raw_dir, "referrals")
    encoded = [line.encode("cp1252" if i == 3 else "utf-8") for i, line in enumerate(lines)]
    path.write_bytes(b"\n".join([header.encode(), *encoded]) + b"\n")
    [result] = ingest_paths(tmp_path / "wh.duckdb", raw_dir, KEY).files
    assert counts(result) == ("loaded", 9, 8, 1)
    [(row, line, reason)] = query(
        tmp_path / "wh.duckdb", "SELECT row_number, line_number, reason FROM quarantine.rows"
    )
    assert (row, line) == (4, 5) and "not in UTF-8 like the rest of the file" in reason
    units = query(
        tmp_path / "wh.duckdb", "SELECT referral_id, jobcenter_unit FROM landing.referrals ORDER BY 1"
    )
    expected = [(f"R{i + 1:06d}", line.rsplit(",", 1)[1] or None) for i, line in enumerate(lines) if i != 3]
    assert units == expected
    assert ("R000001", "Jobcenter Nørrebro") in units


def test_a_utf8_line_in_a_windows_1252_file_refuses_it_naming_the_line(tmp_path: Path) -> None:
    header, lines = referral_lines(9)
    raw_dir = tmp_path / "raw"
    path = delivery_path(raw_dir, "referrals")
    encoded = [
        line.encode("utf-8" if i == 5 else "cp1252") for i, line in enumerate(lines)
    ]  # row 6 = R000006
    path.write_bytes(b"\n".join([header.encode(), *encoded]) + b"\n")
    [result] = ingest_paths(tmp_path / "wh.duckdb", raw_dir, KEY).files
    assert result.status == "refused"
    assert result.message == (
        "the file is in Windows-1252 but line 7 is in UTF-8, whose æøå would be garbled: "
        "save the whole file in one encoding"
    )


def test_nul_bytes_in_values_are_quarantined_with_their_column_and_no_clear_cpr(tmp_path: Path) -> None:
    header, lines = referral_lines(9)
    lines[0] = lines[0].replace("Jobcenter Nørrebro", "Jobcenter\x00Nørrebro")  # row 1, line 2
    lines[5] = lines[5].replace("010150-5001", "0101\x0050-5001")  # row 6: its CPR
    result = load_lines(tmp_path, header, lines)
    assert counts(result) == ("loaded", 9, 7, 2)
    rows = query(
        tmp_path / "wh.duckdb",
        "SELECT row_number, line_number, column_name, reason, record FROM quarantine.rows ORDER BY 1",
    )
    assert [r[:3] for r in rows] == [(1, 2, "jobcenter_unit"), (6, 7, "cpr")]
    assert all("NUL byte" in r[3] for r in rows)
    assert all("5001" not in r[4] and "\\u0000" not in r[4] for r in rows)
    ids = query(tmp_path / "wh.duckdb", "SELECT referral_id FROM landing.referrals ORDER BY 1")
    assert ids == [(f"R{i:06d}",) for i in (2, 3, 4, 5, 7, 8, 9)]


def test_a_cpr_stored_as_a_number_in_a_workbook_is_quarantined_saying_so(tmp_path: Path) -> None:
    header, rows = plain_table("referrals")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    sheet.cell(row=2, column=header.index("cpr") + 1, value=int(rows[0][1].replace("-", "")))  # 101505001
    raw_dir = tmp_path / "raw"
    workbook.save(delivery_path(raw_dir, "referrals", ext="xlsx"))
    [result] = ingest_paths(tmp_path / "wh.duckdb", raw_dir, KEY).files
    assert counts(result) == ("loaded", len(rows), len(rows) - 1, 1)
    [(row, column, reason, record)] = query(
        tmp_path / "wh.duckdb", "SELECT row_number, column_name, reason, record FROM quarantine.rows"
    )
    assert (row, column) == (1, "cpr")
    assert "9 digits: a CPR number stored as a number has lost its leading zero" in reason
    assert "101505001" not in record + reason
