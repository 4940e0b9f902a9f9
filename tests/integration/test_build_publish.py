"""A build replaces every public mart and Parquet export together or changes none of them, runs
one at a time, leaves no dbt folder behind, is logged in meta.runs (a killed one as
`interrupted`), and gives bit-identical marts when repeated.

The failing build is a real one, killed with SIGKILL once dbt has rebuilt fct_referral_outcomes
(which mart_provider_results comes after): the worst moment for a build that swaps marts one by
one. The marts are compared by content (an order-free hash of every row) and the Parquet files
byte for byte, before and after."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipeline.build import build
from pipeline.cli import main
from pipeline.settings import Settings
from pipeline.warehouse import record_run
from tests.conftest import SmallReports, copy_settings

pytestmark = pytest.mark.integration

PAST_AS_OF = dt.date(2024, 3, 31)
PUBLIC_MARTS = (
    "fct_referral_outcomes",
    "fct_referral_measures",
    "mart_provider_results",
    "mart_data_exclusions",
    "dim_providers",
    "dim_measures",
)
WAIT_SECONDS = 600


def marts_state(settings: Settings) -> dict[str, tuple]:
    """Per public mart: rows, as_of values and an order-free hash of the rows' contents."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        state = {}
        for name in PUBLIC_MARTS:
            columns = {row[0] for row in con.execute(f"describe main.{name}").fetchall()}
            as_of = "list(distinct as_of order by as_of)" if "as_of" in columns else "null"
            state[name] = con.execute(f"select count(*), sum(hash(t)), {as_of} from main.{name} t").fetchone()
        return state


def parquet_state(settings: Settings) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(settings.marts_dir.glob("*.parquet"))
    }


def cli(*argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def dbt_logs(warehouse: Path) -> list[Path]:
    """dbt's log files of builds of this warehouse, in the temporary dbt folders."""
    key = hashlib.sha256(str(warehouse.resolve()).encode("utf-8")).hexdigest()[:16]
    return list(Path(tempfile.gettempdir()).glob(f"provmon-dbt-*{key}/logs/dbt.log"))


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the build ended before {what}: {process.stderr.read()}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def logged(warehouse: Path, *texts: str) -> bool:
    """Whether a line of dbt's log holds all of texts."""
    return any(
        all(text in line for text in texts)
        for log in dbt_logs(warehouse)
        for line in log.read_text(errors="replace").splitlines()
    )


@dataclass(frozen=True)
class Killed:
    settings: Settings
    pid: int
    before: dict[str, tuple]
    after: dict[str, tuple]
    parquet_before: dict[str, str]
    parquet_after: dict[str, str]
    second_code: int
    second_err: str
    work_dirs_at_kill: list[Path]


@pytest.fixture(scope="module")
def killed(warehouse_copy: Callable[[str], Settings]) -> Killed:
    """A build for PAST_AS_OF, a second build started while it runs, the first killed with
    SIGKILL right after dbt created the new fct_referral_outcomes."""
    settings = warehouse_copy("killed_build")
    before, parquet_before = marts_state(settings), parquet_state(settings)
    first = cli("build", "--as-of", PAST_AS_OF.isoformat(), "--warehouse", str(settings.warehouse))
    try:
        wait_for(lambda: logged(settings.warehouse, "START"), first, "dbt started")
        second = cli("build", "--warehouse", str(settings.warehouse))
        _, second_err = second.communicate(timeout=WAIT_SECONDS)
        wait_for(
            lambda: logged(settings.warehouse, "OK created", ".fct_referral_outcomes "),
            first,
            "fct_referral_outcomes was built",
        )
        work_dirs = [log.parent.parent for log in dbt_logs(settings.warehouse)]
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    return Killed(
        settings=settings,
        pid=first.pid,
        before=before,
        after=marts_state(settings),
        parquet_before=parquet_before,
        parquet_after=parquet_state(settings),
        second_code=second.returncode,
        second_err=second_err,
        work_dirs_at_kill=work_dirs,
    )


def test_a_killed_build_leaves_every_public_mart_and_export_as_it_was(killed: Killed) -> None:
    assert killed.before["fct_referral_outcomes"][2] != [PAST_AS_OF]  # the build would change it
    assert killed.after == killed.before
    assert killed.parquet_after == killed.parquet_before
    assert not list(killed.settings.marts_dir.glob(".*")), "a temporary export was left behind"


def test_a_second_concurrent_build_is_refused_on_one_line(killed: Killed) -> None:
    assert killed.second_code == 2
    lines = killed.second_err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("provmon build: error: another provmon build of ")
    assert f"pid {killed.pid}" in lines[0] and "wait for it to finish" in lines[0]


def test_a_killed_run_is_marked_interrupted_at_the_next_start(killed: Killed) -> None:
    with record_run(killed.settings.warehouse, "validate") as run:
        run.summary = "next verb"
    with duckdb.connect(str(killed.settings.warehouse), read_only=True) as con:
        rows = con.execute("select verb, status, pid from meta.runs order by run_id").fetchall()
    builds = [row for row in rows if row[0] == "build"]
    assert builds[-1] == ("build", "interrupted", killed.pid)
    assert rows[-1][:2] == ("validate", "ok")
    assert not [row for row in rows if row[1] == "running"]


def test_the_dbt_folder_of_a_killed_build_goes_with_the_next_process(killed: Killed) -> None:
    assert killed.work_dirs_at_kill, "the killed build had a dbt folder"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from pipeline.build import dbt_work_dir; "
            "work = dbt_work_dir(Path(sys.argv[1])); work.mkdir(parents=True); print(work)",
            str(killed.settings.warehouse.resolve()),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    made = Path(done.stdout.strip())
    assert not made.exists(), "the folder of a process that ended normally is removed at its exit"
    assert not [work for work in killed.work_dirs_at_kill if work.exists()], "the killed build's folder"


def test_a_build_after_the_killed_one_is_bit_identical_to_the_first_build(
    killed: Killed, small_warehouse: Settings
) -> None:
    """Two builds of the same data (the session's and this one, default as_of) give the same
    marts to the last bit, and the killed build's schemas are gone."""
    build(killed.settings)
    with duckdb.connect() as con:
        con.execute(f"attach '{small_warehouse.warehouse}' as first (read_only)")
        con.execute(f"attach '{killed.settings.warehouse}' as again (read_only)")
        for name in PUBLIC_MARTS:
            rows = con.execute(f"select count(*) from first.main.{name}").fetchone()[0]
            differ = con.execute(
                f"select count(*) from (select * from first.main.{name} except all "
                f"select * from again.main.{name})"
            ).fetchone()[0]
            assert (rows, differ) == (rows, 0), name
        schemas = [
            row[0]
            for row in con.execute(
                "select schema_name from information_schema.schemata where catalog_name = 'again'"
            ).fetchall()
        ]
    assert sorted(s for s in schemas if s.startswith("provmon_build_")) == [
        f"provmon_build_{max_build_run(killed.settings)}",
        f"provmon_build_{max_build_run(killed.settings)}_intermediate",
        f"provmon_build_{max_build_run(killed.settings)}_staging",
    ]
    with duckdb.connect() as con:  # the exports hold the same rows (their row order is free)
        for path in sorted(small_warehouse.marts_dir.glob("*.parquet")):
            again = killed.settings.marts_dir / path.name
            differ = con.execute(
                f"select count(*) from (select * from read_parquet('{path}') except all "
                f"select * from read_parquet('{again}'))"
            ).fetchone()[0]
            assert differ == 0, path.name


def max_build_run(settings: Settings) -> int:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(
            "select max(run_id) from meta.runs where verb = 'build' and status = 'ok'"
        ).fetchone()[0]


@pytest.mark.parametrize("as_of", ["2099-12-31", "2000-01-01"])
def test_an_as_of_outside_the_data_is_refused_on_one_line(
    as_of: str, warehouse_copy: Callable[[str], Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = warehouse_copy("outside")
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        first, newest = con.execute(
            "select min(booked_on), max(_delivery_date) from landing.referrals"
        ).fetchone()
    before = marts_state(settings)
    assert main(["build", "--as-of", as_of, "--warehouse", str(settings.warehouse)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"--as-of {as_of} is outside the data" in lines[0]
    assert first.isoformat() in lines[0] and newest.isoformat() in lines[0]
    assert marts_state(settings) == before


def test_every_build_is_in_the_run_log(small_warehouse: Settings) -> None:
    with duckdb.connect(str(small_warehouse.warehouse), read_only=True) as con:
        rows = con.execute("select verb, status, summary from meta.runs order by run_id").fetchall()
    assert [(verb, status) for verb, status, _ in rows][:2] == [("ingest", "ok"), ("build", "ok")]
    assert rows[1][2].startswith("build: as_of ")


def test_an_out_dir_that_cannot_be_written_is_one_line(
    warehouse_copy: Callable[[str], Settings], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A report into a path below a file (no folder can be made there, for root too) is refused
    before any notebook runs, instead of an internal error at the end."""
    settings = warehouse_copy("out_dir")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    out = blocker / "reports"
    code = main(["report", "--warehouse", str(settings.warehouse), "--out-dir", str(out)])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"the output folder {out} cannot be written" in lines[0] and "--out-dir" in lines[0]


def test_a_report_is_in_the_run_log(small_reports: SmallReports, tmp_path: Path) -> None:
    settings = copy_settings(small_reports.settings, tmp_path / "copy")
    argv = ["--warehouse", str(settings.warehouse), "--out-dir", str(tmp_path / "reports")]
    assert main(["report", "--month", small_reports.month, *argv]) == 0
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        rows = con.execute("select verb, status, summary from meta.runs order by run_id").fetchall()
    assert rows[-1][:2] == ("report", "ok")
    assert small_reports.month in rows[-1][2]
