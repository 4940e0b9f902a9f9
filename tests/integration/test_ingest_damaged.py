"""Damaged CSV deliveries lose nothing silently (issue 13): a quote that runs over its line,
lines in another encoding, NUL bytes. Rows read = the file's records, counted here with
plain Python; what cannot be a row is quarantined with its line, or the file is refused."""

from __future__ import annotations

from pathlib import Path

from pipeline.ingest import ingest_paths
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


def test_a_quote_that_runs_past_its_line_refuses_the_file_and_names_the_line(tmp_path: Path) -> None:
    header, lines = referral_lines(BIG)
    lines[5] = lines[5].rsplit(",", 1)[0] + ',"Jobcenter Nord'  # row 6, line 7 of the file
    raw_dir = tmp_path / "raw"
    write_lines(raw_dir, header, lines)
    summary = ingest_paths(tmp_path / "wh.duckdb", raw_dir, KEY)
    [result] = summary.files
    assert result.status == "refused"
    assert result.message.startswith("line 7: a quote opened in this line is not closed")
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM landing.referrals") == [(0,)]
    assert query(tmp_path / "wh.duckdb", "SELECT status, rows_read FROM meta.loads") == [("refused", None)]


def test_a_quote_closed_on_a_later_line_into_a_broken_row_refuses_the_file(tmp_path: Path) -> None:
    header, lines = referral_lines(40)
    lines[9] = lines[9].rsplit(",", 1)[0] + ',"Jobcenter Nord'  # line 11
    lines[19] = lines[19].rsplit(",", 1)[0] + ',Syd",x'  # closes it, with a field too many
    raw_dir = tmp_path / "raw"
    write_lines(raw_dir, header, lines)
    [result] = ingest_paths(tmp_path / "wh.duckdb", raw_dir, KEY).files
    assert (result.status, result.message[:8]) == ("refused", "line 11:")


def test_a_quoted_line_break_that_closes_is_a_value_and_a_quote_closed_early_costs_its_line(
    tmp_path: Path,
) -> None:
    header, lines = referral_lines(9)
    lines[2] = lines[2].rsplit(",", 1)[0] + ',"Jobcenter\nAmager"'  # row 3, lines 4-5
    lines[6] = lines[6].rsplit(",", 1)[0] + ',"Jobcenter" Valby'  # row 7, line 9
    raw_dir = tmp_path / "raw"
    write_lines(raw_dir, header, lines)
    [result] = ingest_paths(tmp_path / "wh.duckdb", raw_dir, KEY).files
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_quarantined) == (
        "loaded",
        9,
        8,
        1,
    )
    units = query(
        tmp_path / "wh.duckdb", "SELECT jobcenter_unit FROM landing.referrals WHERE referral_id = 'R000003'"
    )
    assert units == [("Jobcenter\nAmager",)]
    [(row, reason)] = query(tmp_path / "wh.duckdb", "SELECT row_number, reason FROM quarantine.rows")
    assert row == 7 and "quote" in reason
