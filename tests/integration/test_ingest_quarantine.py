"""Each kind of bad row in tests/fixtures/raw_bad lands in quarantine.rows with its row, line,
column and a reason a person can act on; the good rows (and rows whose only problem is a
reference to an unknown parent) are loaded; rows read = loaded + quarantined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.ingest import IngestSummary, ingest_paths
from tests.fixtures.raw_fixtures import BAD, KEY, data_rows, landing_rows, person_key, query

BENEFITS = (
    "cash_assistance, education_assistance, sickness_benefit, job_clarification, resource_course, "
    "flex_job, flex_unemployment, disability_pension, unemployment_benefit, student_grant"
)
SITE = "; or map it under extracts.{}.codes.{} in the site mapping"
NOT_A_DATE = "is not a date (YYYY-MM-DD, DD-MM-YYYY or DD.MM.YYYY)"
IF_END = "it is required when end_date is set"
DECIMAL = "is not a number (digits with ',' or '.' as decimal mark, no thousands separator)"
# (extract, row number, column, reason), written by hand from the fixture files.
EXPECTED = [
    ("providers", 2, "cvr", "cvr '1234' does not have the required form ^[0-9]{8}$"),
    ("agreements", 2, "tender_area", "tender_area 5 is above the maximum 4"),
    ("agreements", 3, "price_dkk", "price_dkk 0 must be more than 0"),
    ("agreements", 4, "offer_code", "unknown offer_code 'XYZ' (allowed: virk, mest, ment, fast, eftv, helh"
     + SITE.format("agreements", "offer_code") + ")"),
    ("agreements", 5, "valid_to", "valid_to 2023-05-31 is before valid_from 2023-06-01"),
    ("agreements", 6, "capacity_per_month", "capacity_per_month '2.5' is not a whole number"),
    ("referrals", 2, "cpr", "invalid CPR 320150-****: day 32 is not a date"),
    ("referrals", 3, "end_date", "end_date 2023-01-04 is before start_date 2023-02-01"),
    (
        "referrals", 4, "end_reason",
        "unknown end_reason 'fired' (allowed: completed, job, education, dropout, sick, moved, rebooked, "
        "other"
        + SITE.format("referrals", "end_reason") + ")",
    ),
    ("referrals", 5, "agreement_id", "agreement_id is missing (required)"),
    ("referrals", 6, "booked_on", f"booked_on '2023-02-30' {NOT_A_DATE}"),
    ("referrals", 7, "hours_min", "hours_min -1 is below the minimum 0"),
    ("referrals", 8, "hours_min", "hours_min 20 is above hours_max 10"),
    ("referrals", 9, "end_reason", f"end_reason is missing; {IF_END} ('2023-05-01')"),
    ("referrals", 10, "hours_max", f"hours_max '1.234,5' {DECIMAL}"),
    (
        "referrals", 11, None,
        "the row has 14 fields but the header has 13: is a value containing the separator not in quotes?",
    ),
    ("referrals", 12, "cpr", "invalid CPR 010150-****: it has 7 digits, a CPR number has 10 (DDMMYY-SSSS)"),
    ("referrals", 13, "cpr", "invalid CPR 300250-****: day 30 does not exist in February 2050"),
    ("referrals", 14, "referral_id", "exact duplicate of row 1"),
    ("referrals", 15, "referral_id", "same referral_id R101 as row 1, with other values"),
    ("referrals", 17, "start_date", "start_date 2023-02-01 is before booked_on 2023-03-02"),
    ("referrals", 18, "benefit_at_start", f"unknown benefit_at_start 'none' (allowed: {BENEFITS}"
     + SITE.format("referrals", "benefit_at_start") + ")"),
    ("paid_hours", 2, "hours", "hours -3 is below the minimum 0"),
    ("paid_hours", 3, "month", "month '2023/12' is not a month (YYYY-MM)"),
    ("paid_hours", 4, "month", "month '2023-13' is not a month (YYYY-MM)"),
    ("paid_hours", 5, "cpr", "cpr is missing (required)"),
    ("paid_hours", 6, "cpr, month", "same cpr 010150-****, month 2023-10 as row 1, with other values"),
    ("benefit_weeks", 2, "week_start", "week_start 2023-09-05 is a Tuesday, not a Monday"),
    (
        "benefit_weeks", 3, "week_start",
        "week_start '2021-W53' is not a week (a Monday as a date, or an ISO week YYYY-Www)",
    ),
    ("benefit_weeks", 4, "benefit", f"unknown benefit 'none' (allowed: {BENEFITS}"
     + SITE.format("benefit_weeks", "benefit") + ")"),
    (
        "sickness_cases", 2, "end_reason",
        "end_reason is missing; it is required when case_end_date is set ('2023-06-01')",
    ),
    ("rehab_decisions", 2, "decision_date", "decision_date 2023-12-01 is before meeting_date 2023-12-05"),
    ("attendance", 2, "week_start", "week_start 2023-02-08 is a Wednesday, not a Monday"),
    ("attendance", 3, "attended_hours", "attended_hours is missing (required)"),
]  # fmt: skip


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, IngestSummary]:
    warehouse = tmp_path_factory.mktemp("bad") / "warehouse.duckdb"
    return warehouse, ingest_paths(warehouse, BAD, KEY)


def test_every_bad_row_is_quarantined_with_column_and_reason(loaded: tuple[Path, IngestSummary]) -> None:
    warehouse, _ = loaded
    rows = query(
        warehouse,
        "SELECT extract, row_number, column_name, reason FROM quarantine.rows ORDER BY load_id, row_number",
    )
    assert rows == EXPECTED


def test_line_numbers_count_the_header_and_files_are_named(loaded: tuple[Path, IngestSummary]) -> None:
    warehouse, _ = loaded
    rows = query(warehouse, "SELECT extract, file, row_number, line_number FROM quarantine.rows")
    assert all(file == f"{extract}_20240131.csv" and line == row + 1 for extract, file, row, line in rows)


def test_the_good_rows_load_including_unknown_references(loaded: tuple[Path, IngestSummary]) -> None:
    warehouse, _ = loaded
    referrals = landing_rows(warehouse, "referrals", keep=("_row_number",))
    # R114 refers to agreement A99, which does not exist: that is for dbt and the quality
    # report to count, not a reason to quarantine. Its codes were written in capitals.
    assert [(r["referral_id"], r["_row_number"]) for r in referrals] == [
        ("R101", 1),
        ("R114", 16),
        ("R117", 19),
    ]
    assert (referrals[1]["purpose"], referrals[1]["benefit_at_start"]) == ("job", "cash_assistance")
    agreements = [r["agreement_id"] for r in landing_rows(warehouse, "agreements")]
    assert agreements == ["A01", "A16"]  # A16's provider P99 is unknown


def test_cpr_numbers_in_free_text_are_masked(loaded: tuple[Path, IngestSummary]) -> None:
    warehouse, _ = loaded
    units = [r["jobcenter_unit"] for r in landing_rows(warehouse, "referrals")]
    assert units == ["Jobcenter Nørrebro", None, "ring om 010150-**** eller 290256-****"]


def test_the_quarantined_record_is_the_row_with_the_cpr_pseudonymised(
    loaded: tuple[Path, IngestSummary],
) -> None:
    warehouse, _ = loaded
    [(record,)] = query(
        warehouse, "SELECT record FROM quarantine.rows WHERE extract = 'referrals' AND row_number = 3"
    )
    row = json.loads(record)
    assert row["cpr"] == person_key("6102525002")
    assert (row["referral_id"], row["end_date"], row["start_date"]) == ("R103", "2023-01-04", "2023-02-01")
    [(line,)] = query(
        warehouse, "SELECT record FROM quarantine.rows WHERE extract = 'referrals' AND row_number = 11"
    )
    assert json.loads(line)["line"].startswith("R111,610252-****,A01,")


def test_rows_read_are_the_rows_in_the_file_and_all_are_accounted_for(
    loaded: tuple[Path, IngestSummary],
) -> None:
    warehouse, summary = loaded
    loads = query(
        warehouse,
        "SELECT l.extract, l.file_path, l.rows_read, l.rows_loaded, l.rows_quarantined, "
        "(SELECT count(*) FROM quarantine.rows q WHERE q.load_id = l.load_id) FROM meta.loads l",
    )
    assert len(loads) == 8
    for extract, path, read, loaded_rows, quarantined, in_quarantine in loads:
        [(in_landing,)] = query(warehouse, f"SELECT count(*) FROM landing.{extract}")
        assert read == data_rows(Path(path)) == loaded_rows + quarantined, extract
        assert (loaded_rows, quarantined) == (in_landing, in_quarantine), extract
    assert (summary.rows_read, summary.rows_loaded, summary.rows_quarantined) == (45, 11, 34)
