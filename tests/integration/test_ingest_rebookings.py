"""Rebookings (ombooking) at ingestion: end_reason `rebooked` and the optional column
previous_referral_id (raw-extracts.md). A delivery without the column loads with it NULL in
landing; a continuation naming a referral that does not exist (in its own or an earlier
delivery) or whose newest version does not end `rebooked` is quarantined with a reason; one
naming a referral rebooked in an earlier delivery, already in landing, loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.ingest import ingest_paths
from tests.fixtures.raw_fixtures import KEY, PLAIN, copy_tree, delivery_path, plain_table, query, write_csv

LATER = "20240229"
COLUMN = "previous_referral_id"


def referral(referral_id: str, start: str, end: str, reason: str, previous: str) -> list[str]:
    """A referral of the first raw_plain person on agreement A01, in the column order of HEADER."""
    return [referral_id, "010150-5001", "A01", start, start, "", end, reason, "job", "cash_assistance",
            "10", "10", "Jobcenter Nørrebro", previous]  # fmt: skip


HEADER = [*plain_table("referrals")[0], COLUMN]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """raw_plain (no previous_referral_id column), then two referrals deliveries with it: the
    first has a course rebooked once with the continuation in the same file; the second (a
    month later) continues a referral of the first delivery, and holds the bad continuations."""
    raw = copy_tree(PLAIN, tmp_path_factory.mktemp("rebook") / "raw")
    first = [
        referral("K1", "2024-01-08", "2024-01-19", "rebooked", ""),
        referral("K2", "2024-01-22", "2024-01-26", "rebooked", "K1"),  # in the same file
        referral("K3", "2024-01-08", "2024-01-26", "completed", ""),
    ]
    write_csv(delivery_path(raw, "referrals", day="20240201"), HEADER, first)
    second = [
        referral("K4", "2024-01-29", "", "", "K2"),  # K2 rebooked in the earlier delivery
        referral("K5", "2024-02-05", "", "", "K3"),  # K3 completed, not rebooked
        referral("K6", "2024-02-05", "", "", "K99"),  # no such referral
        referral("K7", "2024-02-05", "", "", "R002"),  # in landing, ongoing
        referral("K8", "2024-02-05", "2024-02-09", "rebooked", "K8"),  # itself
        referral("K9", "2024-02-12", "", "", "R001"),  # R001 ended 'job'
    ]
    write_csv(delivery_path(raw, "referrals", day=LATER), HEADER, second)
    warehouse = raw.parent / "warehouse.duckdb"
    summary = ingest_paths(warehouse, raw, KEY)
    assert all(f.status == "loaded" for f in summary.files), [f.message for f in summary.files]
    return warehouse


def test_a_delivery_without_the_optional_column_loads_it_as_null(loaded: Path) -> None:
    rows = query(
        loaded, f"SELECT count(*), count({COLUMN}) FROM landing.referrals WHERE _file LIKE '%20240131%'"
    )
    assert rows == [(len(plain_table("referrals")[1]), 0)]


def test_rebooked_is_an_end_reason_and_continuations_load(loaded: Path) -> None:
    rows = query(
        loaded, f"SELECT referral_id, end_reason, {COLUMN} FROM landing.referrals WHERE referral_id LIKE 'K%'"
    )
    assert sorted(rows, key=str) == sorted(
        [("K1", "rebooked", None), ("K2", "rebooked", "K1"), ("K3", "completed", None), ("K4", None, "K2")],
        key=str,
    )


def test_bad_continuations_are_quarantined_with_a_reason(loaded: Path) -> None:
    rows = query(
        loaded,
        "SELECT row_number, column_name, reason FROM quarantine.rows WHERE file = ? ORDER BY row_number",
        [f"referrals_{LATER}.csv"],
    )
    not_rebooked = (
        "names a row whose end_reason is {}, not rebooked (only a row ended rebooked is continued by another)"
    )
    missing = "is not a referral_id of this or an earlier delivery"
    assert [(r, c) for r, c, _ in rows] == [(2, COLUMN), (3, COLUMN), (4, COLUMN), (5, COLUMN), (6, COLUMN)]
    reasons = [reason for *_, reason in rows]
    assert reasons[0] == f"{COLUMN} 'K3' " + not_rebooked.format("'completed'")
    assert reasons[1].startswith(f"{COLUMN} 'K99' {missing}")
    assert reasons[2] == f"{COLUMN} 'R002' " + not_rebooked.format("empty")
    assert reasons[3] == f"{COLUMN} 'K8' is the row's own referral_id"
    assert reasons[4] == f"{COLUMN} 'R001' " + not_rebooked.format("'job'")


def test_rows_read_equal_loaded_plus_quarantined(loaded: Path) -> None:
    rows = query(loaded, "SELECT rows_read, rows_loaded, rows_quarantined FROM meta.loads WHERE file = ?",
                 [f"referrals_{LATER}.csv"])  # fmt: skip
    assert rows == [(6, 1, 5)]
