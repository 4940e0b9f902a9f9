"""Reloading, corrections in later deliveries, refused files and the run log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.contract import load_contract
from pipeline.cpr import KEY_ENV
from pipeline.errors import UnreadableFileError
from pipeline.ingest import RefusedFilesError, ingest, ingest_file, ingest_paths
from pipeline.ingest.config import CommitWindow, load_config
from pipeline.settings import Settings
from pipeline.warehouse import WarehouseError, connect, ensure_schemas, record_run
from tests.fixtures.raw_fixtures import (
    KEY,
    PLAIN,
    copy_tree,
    delivery_path,
    landing_rows,
    plain_table,
    query,
    write_csv,
)

TABLE_COUNTS = """
    SELECT (SELECT count(*) FROM meta.loads), (SELECT count(*) FROM quarantine.rows),
    (SELECT count(*) FROM landing.providers), (SELECT count(*) FROM landing.referrals),
    (SELECT count(*) FROM landing.paid_hours), (SELECT count(*) FROM landing.attendance)"""
# A second process that opens the warehouse for writing and keeps it open.
HOLD_LOCK = (
    "import sys, time, duckdb; con = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)"
)
# The row of each business key that staging keeps (docs/warehouse.md): newest delivery, then
# the latest load, then the last row.
NEWEST_WINS = """
    SELECT * EXCLUDE (_load_id, _file, _row_number, _extra) FROM landing.referrals
    QUALIFY row_number() OVER (
        PARTITION BY referral_id ORDER BY _delivery_date DESC, _load_id DESC, _row_number DESC) = 1
    ORDER BY referral_id"""


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    return copy_tree(PLAIN, tmp_path / "raw")


@pytest.fixture
def settings(tmp_path: Path, raw_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    return Settings.resolve(warehouse=str(tmp_path / "warehouse.duckdb"), raw_dir=str(raw_dir))


def test_reloading_the_same_files_changes_nothing(settings: Settings) -> None:
    first = ingest(settings)
    before = query(settings.warehouse, TABLE_COUNTS)
    second = ingest(settings)
    assert [f.status for f in first.files] == ["loaded"] * 9
    assert [f.status for f in second.files] == ["skipped"] * 9
    assert str(second).startswith("ingest: 0 files loaded, 9 skipped, 0 refused; 0 rows read")
    assert query(settings.warehouse, TABLE_COUNTS) == before


def test_a_later_correction_is_kept_beside_the_original_and_wins(settings: Settings, raw_dir: Path) -> None:
    ingest(settings)
    header, rows = plain_table("referrals")
    corrected = list(rows[1])
    corrected[header.index("end_date")], corrected[header.index("end_reason")] = "2024-02-12", "job"
    write_csv(delivery_path(raw_dir, "referrals", day="20240229"), header, [corrected])
    ingest(settings)

    both = [
        r
        for r in landing_rows(settings.warehouse, "referrals", keep=("_file",))
        if r["referral_id"] == "R002"
    ]
    assert [(r["_file"], str(r["end_date"]), r["end_reason"]) for r in both] == [
        ("referrals_20240131.csv", "None", None),
        ("referrals_20240229.csv", "2024-02-12", "job"),
    ]
    newest = {row[0]: row for row in query(settings.warehouse, NEWEST_WINS)}
    assert len(newest) == 5
    assert str(newest["R002"][-1]) == "2024-02-29"  # _delivery_date of the correction
    files = [f for (f,) in query(settings.warehouse, "SELECT file FROM meta.loads ORDER BY load_id")]
    assert files[:3] == ["providers_20240131.csv", "agreements_20240131.csv", "referrals_20240131.csv"]
    assert files[-1] == "referrals_20240229.csv"


def test_a_changed_file_under_a_loaded_name_is_refused(settings: Settings, raw_dir: Path) -> None:
    ingest(settings)
    before = query(settings.warehouse, TABLE_COUNTS)
    path = raw_dir / "paid_hours" / "paid_hours_20240131.csv"
    path.write_text(path.read_text() + "010150-5001,2024-01,3\n")
    with pytest.raises(RefusedFilesError) as refused:
        ingest(settings)
    assert "paid_hours_20240131.csv: a file of this name was loaded on" in str(refused.value)
    assert "a correction must come as a new delivery with a later date in its name" in str(refused.value)
    assert query(settings.warehouse, TABLE_COUNTS)[0][1:] == before[0][1:]


PAID_HOURS = "cpr,month,hours\n010150-5001,2023-10,12.5\n"
UNREADABLE = [
    ("referrals_20240131.csv", bytes(range(256)) * 4, "this is not a text file"),
    ("referrals_20240131.csv", b"", "the file is empty: it has no header row"),
    ("referrals_20240131.csv", b"referral_id,agreement_id\nR1,A01\n", "required columns cpr, booked_on"),
    ("referrals_20240131.csv", PAID_HOURS.encode(), "the columns are those of paid_hours: does it belong in"),
    (
        "referrals_20240131.csv",
        b"referral_id|cpr|agreement_id\nR1|x|y\n",
        "the header was read as a single column",
    ),
    ("referrals_20240131.parquet", b"PAR1 this is not parquet PAR1", "cannot be read as parquet"),
    ("referrals_20240131.xlsx", PAID_HOURS.encode(), "cannot be read as xlsx"),
]


@pytest.mark.parametrize(("name", "content", "words"), UNREADABLE, ids=[w for _, _, w in UNREADABLE])
def test_an_unreadable_file_loads_nothing_and_says_why_in_one_line(
    tmp_path: Path, name: str, content: bytes, words: str
) -> None:
    path = tmp_path / "raw" / "referrals" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    warehouse = tmp_path / "warehouse.duckdb"
    with pytest.raises(UnreadableFileError) as refused:
        ingest_file(warehouse, path, KEY)
    message = str(refused.value)
    assert message.startswith(f"{name}: ") and words in message and "\n" not in message
    assert query(warehouse, "SELECT count(*) FROM landing.referrals") == [(0,)]
    assert query(warehouse, "SELECT count(*) FROM quarantine.rows") == [(0,)]
    assert query(warehouse, "SELECT file, status, rows_loaded FROM meta.loads") == [(name, "refused", None)]


def test_ingest_loads_the_good_files_then_fails_naming_the_refused_ones(
    settings: Settings, raw_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (raw_dir / "attendance" / "attendance_20240131.csv").write_text("referral_id,week\nR001,2023-09-11\n")
    (raw_dir / "referrals" / "referrals_2024-02-29.csv").write_text("x\n")
    argv = ["ingest", "--warehouse", str(settings.warehouse), "--raw-dir", str(settings.raw_dir)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("provmon ingest: error: 2 files refused, nothing of them loaded (")
    assert (
        "attendance_20240131.csv: required columns week_start, planned_hours, attended_hours missing" in err
    )
    assert "referrals_2024-02-29.csv: the name does not fit the pattern" in err
    assert "8 files loaded, 0 skipped, 2 refused" in err
    counts = query(settings.warehouse, TABLE_COUNTS)[0]
    assert counts[2:] == (3, 5, 5, 0)
    assert query(settings.warehouse, "SELECT verb, status FROM meta.runs") == [("ingest", "failed")]


def test_each_run_is_logged_with_its_summary(settings: Settings) -> None:
    summary = ingest(settings)
    runs = query(
        settings.warehouse, "SELECT run_id, verb, status, summary, finished_at >= started_at FROM meta.runs"
    )
    assert runs == [(1, "ingest", "ok", str(summary), True)]


def test_a_failing_verb_is_logged_with_its_error_cpr_masked(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with pytest.raises(ValueError), record_run(warehouse, "build"):
        raise ValueError("person 0101505001 broke it")
    assert query(warehouse, "SELECT verb, status, summary FROM meta.runs") == [
        ("build", "failed", "person 010150-**** broke it")
    ]


def test_a_warehouse_in_use_by_another_process_is_a_clear_error(settings: Settings) -> None:
    settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(settings.warehouse)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseError, match="is in use by another process"):
            ingest(settings)
    finally:
        holder.kill()
        holder.wait()


def test_reading_a_warehouse_that_is_not_there_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="run `provmon ingest` first"):
        connect(tmp_path / "nowhere.duckdb", read_only=True)


def test_small_commit_windows_load_the_same_and_keep_delivery_order(
    tmp_path: Path, raw_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two files per transaction, with a refused file inside a window."""
    (raw_dir / "referral_results" / "referral_results_20240131.csv").write_text("referral_id\nR001\n")
    config = load_config().model_copy(update={"commit": CommitWindow(files=2, rows=10)})
    monkeypatch.setattr("pipeline.ingest.load.load_config", lambda: config)
    warehouse = tmp_path / "windows.duckdb"
    summary = ingest_paths(warehouse, raw_dir, KEY)
    assert [f.status for f in summary.files].count("refused") == 1
    assert query(warehouse, TABLE_COUNTS)[0] == (9, 0, 3, 5, 5, 3)
    loads = query(warehouse, "SELECT extract, status FROM meta.loads ORDER BY load_id")
    assert [e for e, _ in loads] == list(load_contract().extracts)
    assert dict(loads)["referral_results"] == "refused"


def test_a_landing_table_missing_a_contract_column_gets_it(tmp_path: Path) -> None:
    """A warehouse made before the contract gained a column keeps its rows and gains it."""
    warehouse = tmp_path / "old.duckdb"
    with connect(warehouse) as con:
        con.execute("CREATE SCHEMA landing")
        con.execute("CREATE TABLE landing.providers (provider_id VARCHAR, provider_name VARCHAR)")
        con.execute("INSERT INTO landing.providers VALUES ('P01', 'Jobvejen ApS')")
        ensure_schemas(con)
        columns = [row[0] for row in con.execute("DESCRIBE landing.providers").fetchall()]
        rows = con.execute("SELECT provider_id, cvr, _load_id FROM landing.providers").fetchall()
    assert columns == [
        "provider_id",
        "provider_name",
        "cvr",
        "_load_id",
        "_file",
        "_delivery_date",
        "_row_number",
        "_extra",
    ]
    assert rows == [("P01", None, None)]
