"""`provmon validate` on the small synthetic data set (generator -> ingestion -> validate):
the clean data passes; each planted problem fails the right check, on the right delivery, with
the right severity and the numbers in its message; `provmon run` stops on a critical breach
before the build and leaves the marts of the previous build as they were.

Expected numbers are computed here from the landing tables and meta.loads with SQL/pandas,
never copied from the code's output. Problems are planted in one damaged copy of the
warehouse, each in its own table or delivery, so that one validation judges them all."""

from __future__ import annotations

import hashlib
import shutil
import statistics
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from pipeline.build import build
from pipeline.cli import build_parser, main
from pipeline.generate import generate
from pipeline.ingest import ingest
from pipeline.quality import CriticalQualityError, QualitySummary, validate, validate_marts
from pipeline.quality.config import CONFIG_FILE
from pipeline.quality.gx_context import EXPECTATIONS_DIR
from pipeline.settings import Settings

pytestmark = pytest.mark.integration
CONFIG = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))["landing"]
PREVIOUS = CONFIG["volume"]["previous_deliveries"]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("quality")
    generate(scale="small", seed=11, out=root / "raw")
    settings = Settings.resolve(
        warehouse=str(root / "warehouse.duckdb"), raw_dir=str(root / "raw"), out_dir=str(root / "reports")
    )
    ingest(settings)
    return settings


def copy_of(ingested: Settings, folder: Path) -> Settings:
    """A copy of the ingested warehouse that a test may damage."""
    folder.mkdir(parents=True, exist_ok=True)
    warehouse = folder / "warehouse.duckdb"
    shutil.copy(ingested.warehouse, warehouse)
    return replace(ingested, warehouse=warehouse, out_dir=folder / "reports", marts_dir=folder / "marts")


def sql(settings: Settings, statement: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse)) as con:
        return con.execute(statement, params or []).fetchall()


def newest_load(settings: Settings, extract: str, back: int = 0) -> tuple[int, str]:
    return sql(
        settings,
        "SELECT load_id, file FROM meta.loads WHERE extract = ? AND status = 'loaded' "
        "ORDER BY delivery_date DESC, load_id DESC LIMIT 1 OFFSET ?",
        [extract, back],
    )[0]


def median_before_newest(settings: Settings, extract: str) -> float:
    counts = sql(
        settings,
        "SELECT rows_loaded FROM meta.loads WHERE extract = ? AND status = 'loaded' "
        "ORDER BY delivery_date, load_id",
        [extract],
    )
    return statistics.median(n for (n,) in counts[-1 - PREVIOUS : -1])


def keep_rows(settings: Settings, extract: str, load_id: int, where: str) -> int:
    """Delete the rows of a delivery that fail `where` and log the smaller delivery in meta.loads,
    as if the file had arrived with only those rows."""
    sql(settings, f"DELETE FROM landing.{extract} WHERE _load_id = ? AND NOT ({where})", [load_id])
    (kept,) = sql(settings, f"SELECT count(*) FROM landing.{extract} WHERE _load_id = ?", [load_id])[0]
    sql(
        settings,
        "UPDATE meta.loads SET rows_loaded = ?, rows_read = ? + rows_quarantined WHERE load_id = ?",
        [kept, kept, load_id],
    )
    return kept


def breaches(summary: QualitySummary, check: str, severity: str, table: str | None = None) -> list:
    return [
        r
        for r in summary.results
        if r.expectation == check
        and r.severity == severity
        and not r.success
        and (table is None or r.table_name == table)
    ]


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


# --- the clean data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Clean:
    settings: Settings
    first: QualitySummary
    second: QualitySummary
    expectations_untouched: bool


@pytest.fixture(scope="module")
def clean(ingested: Settings, tmp_path_factory: pytest.TempPathFactory) -> Clean:
    settings = copy_of(ingested, tmp_path_factory.mktemp("clean"))
    before = tree_digest(EXPECTATIONS_DIR)
    first = validate(settings)
    second = validate(settings)
    return Clean(settings, first, second, tree_digest(EXPECTATIONS_DIR) == before)


def test_the_clean_small_data_set_passes(clean: Clean) -> None:
    assert clean.first.critical == []
    assert (clean.settings.out_dir / "quality" / "index.html").is_file()
    assert not (clean.settings.out_dir / "quality" / "data_docs").exists()
    assert clean.expectations_untouched, "a run must not write into expectations/"


def test_every_delivery_is_judged_and_every_result_is_stored(clean: Clean) -> None:
    loads = {row[0] for row in sql(clean.settings, "SELECT load_id FROM meta.loads WHERE status = 'loaded'")}
    assert {r.load_id for r in clean.first.results if r.expectation == "load_log"} == loads
    stored = sql(clean.settings, "SELECT run_id, count(*) FROM meta.quality_results GROUP BY 1 ORDER BY 1")
    assert stored == [
        (clean.first.run_id, len(clean.first.results)),
        (clean.second.run_id, len(clean.second.results)),
    ]


def test_a_second_run_reads_the_profiles_from_the_cache_and_judges_the_same(clean: Clean) -> None:
    assert clean.first.profiled == clean.first.deliveries > 0
    assert clean.second.profiled == 0
    verdicts = [(r.expectation, r.table_name, r.load_id, r.success) for r in clean.first.results]
    assert [(r.expectation, r.table_name, r.load_id, r.success) for r in clean.second.results] == verdicts


def test_orphan_warnings_are_the_deliveries_with_rows_whose_parent_is_missing(clean: Clean) -> None:
    shares = dict(
        sql(
            clean.settings,
            "SELECT _load_id, avg(CASE WHEN referral_id IN (SELECT referral_id FROM landing.referrals) "
            "THEN 0 ELSE 1 END) FROM landing.referral_results GROUP BY 1",
        )
    )
    warned = breaches(clean.first, "orphans.referral_id", "warning", "landing.referral_results")
    assert {r.load_id for r in warned} == {load for load, share in shares.items() if share > 0}
    assert all(share <= CONFIG["orphans"]["critical_above"] for share in shares.values())


def test_referrals_of_citizens_under_30_are_a_warning_on_their_deliveries(clean: Clean) -> None:
    """The generator books a few citizens under 30 (the target groups are over 30): each
    delivery holding such a referral is warned about, none is critical."""
    young = dict(
        sql(
            clean.settings,
            "SELECT _load_id, count(*) FILTER (WHERE date_add(birth_date, INTERVAL 30 YEAR) > start_date) "
            "FROM landing.referrals GROUP BY 1",
        )
    )
    warned = breaches(clean.first, "min_age", "warning", "landing.referrals")
    assert any(young.values()), "the small data set has referrals of citizens under 30"
    assert {r.load_id for r in warned} == {load for load, n in young.items() if n > 0}
    assert not breaches(clean.first, "min_age", "critical")


def test_the_summary_names_each_warned_check_with_its_deliveries(clean: Clean) -> None:
    text = str(clean.first)
    assert clean.first.warnings, "the small data set has warnings (orphans, quarantine shares)"
    warned: dict[tuple[str, str], int] = {}
    for r in clean.first.warnings:
        warned[(r.table_name, r.expectation)] = warned.get((r.table_name, r.expectation), 0) + 1
    for (table, check), n in warned.items():
        assert f"{table} {check}: {n} deliver{'y' if n == 1 else 'ies'}" in text
    orphaned = sql(
        clean.settings,
        "SELECT count(DISTINCT _load_id) FROM landing.referral_results "
        "WHERE referral_id NOT IN (SELECT referral_id FROM landing.referrals)",
    )[0][0]
    if orphaned:  # a referral quarantined by planted dirt leaves its results without a parent
        assert f"landing.referral_results orphans.referral_id: {orphaned} deliver" in text


def test_a_small_delivery_with_a_few_orphans_of_a_quarantined_referral_only_warns(
    ingested: Settings, tmp_path: Path
) -> None:
    """A referral whose every row was quarantined leaves its results in a small results delivery
    without their referral: more than 5 % of the delivery, but fewer rows than the critical
    floor, not a reason to stop the monthly run (issue: it stopped `provmon validate` as
    critical). Planted in a copy: the referral's rows are taken out of their deliveries, as if
    quarantined (whether a seed's dirt happens to do so is chance)."""
    settings = copy_of(ingested, tmp_path)
    floor = CONFIG["orphans"]["critical_min_rows"]
    candidates = sql(
        settings,
        "WITH sizes AS (SELECT _file, count(*) AS n FROM landing.referral_results GROUP BY 1) "
        "SELECT referral_id FROM landing.referral_results JOIN sizes USING (_file) GROUP BY referral_id "
        "HAVING count(DISTINCT _file) = 1 AND count(*) < ? AND count(*) > 0.05 * any_value(n) "
        "ORDER BY referral_id LIMIT 1",
        [floor],
    )
    assert candidates, "no referral has enough results in one small delivery to plant the case"
    referral = candidates[0][0]
    loads = sql(settings, "SELECT DISTINCT _load_id FROM landing.referrals WHERE referral_id = ?", [referral])
    for (load_id,) in loads:
        keep_rows(settings, "referrals", load_id, f"referral_id <> '{referral}'")
    summary = validate(settings)  # raises CriticalQualityError on a critical breach
    assert not summary.critical
    per_delivery = sql(
        settings,
        "SELECT _file, count(*), count(*) FILTER (WHERE referral_id NOT IN "
        "(SELECT referral_id FROM landing.referrals)) FROM landing.referral_results GROUP BY 1",
    )
    small = [(file, rows, orphans) for file, rows, orphans in per_delivery if orphans / rows > 0.05]
    assert small, "a results delivery with more than 5 % orphans"
    assert all(orphans < floor for _, _, orphans in small)
    warned = {r.file for r in breaches(summary, "orphans.referral_id", "warning", "landing.referral_results")}
    assert {file for file, _, _ in small} <= warned


# --- planted problems ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Damaged:
    settings: Settings
    summary: QualitySummary
    message: str
    plants: dict[str, tuple]


@pytest.fixture(scope="module")
def damaged(ingested: Settings, tmp_path_factory: pytest.TempPathFactory) -> Damaged:
    s = copy_of(ingested, tmp_path_factory.mktemp("damaged"))
    plants: dict[str, tuple] = {}

    half_id, half_file = newest_load(s, "referrals")
    median = median_before_newest(s, "referrals")
    kept = keep_rows(s, "referrals", half_id, "_row_number % 2 = 1")
    plants["half"] = (half_id, half_file, kept, median)

    smaller_id, _ = newest_load(s, "paid_hours")
    keep = round(0.7 * median_before_newest(s, "paid_hours"))
    plants["smaller"] = (smaller_id, keep_rows(s, "paid_hours", smaller_id, f"_row_number <= {keep}"))

    codes_id, codes_file = newest_load(s, "referrals", back=3)
    sql(
        s,
        "UPDATE landing.referrals SET end_reason = 'fyret' WHERE _load_id = ? AND end_reason = 'job'",
        [codes_id],
    )
    (fired,) = sql(s, "SELECT count(*) FROM landing.referrals WHERE end_reason = 'fyret'")[0]
    plants["codes"] = (codes_id, codes_file, fired)

    dup_id, dup_file = newest_load(s, "referral_results", back=1)
    sql(
        s,
        "INSERT INTO landing.referral_results SELECT * FROM landing.referral_results "
        "WHERE _load_id = ? ORDER BY _row_number LIMIT 3",
        [dup_id],
    )
    sql(
        s,
        "UPDATE meta.loads SET rows_loaded = rows_loaded + 3, rows_read = rows_read + 3 WHERE load_id = ?",
        [dup_id],
    )
    plants["duplicates"] = (dup_id, dup_file)

    # A file that arrived without its planned_end_date column loads with the column empty.
    empty_id, empty_file = newest_load(s, "referrals", back=1)
    sql(s, "UPDATE landing.referrals SET planned_end_date = NULL WHERE _load_id = ?", [empty_id])
    plants["empty_column"] = (empty_id, empty_file)

    # Results whose referral is in no delivery: above the share and the row floor.
    orphan_id, orphan_file = newest_load(s, "referral_results", back=2)
    (rows,) = sql(s, "SELECT count(*) FROM landing.referral_results WHERE _load_id = ?", [orphan_id])[0]
    orphans = CONFIG["orphans"]
    orphaned = max(orphans["critical_min_rows"], int(rows * orphans["critical_above"]) + 1)
    sql(
        s,
        "UPDATE landing.referral_results SET referral_id = 'NOPE' || _row_number "
        "WHERE _load_id = ? AND _row_number IN (SELECT _row_number FROM landing.referral_results "
        "WHERE _load_id = ? ORDER BY _row_number LIMIT ?)",
        [orphan_id, orphan_id, orphaned],
    )
    (orphaned,) = sql(  # with any the delivery had before
        s,
        "SELECT count(*) FROM landing.referral_results WHERE _load_id = ? "
        "AND referral_id NOT IN (SELECT referral_id FROM landing.referrals)",
        [orphan_id],
    )[0]
    plants["orphans"] = (orphan_id, orphan_file, rows, orphaned)

    sql(s, "ALTER TABLE landing.providers DROP COLUMN cvr")

    with pytest.raises(CriticalQualityError) as caught:
        validate(s)
    return Damaged(s, caught.value.summary, str(caught.value), plants)


def test_a_delivery_with_half_the_rows_is_critical(damaged: Damaged) -> None:
    load_id, file, kept, median = damaged.plants["half"]
    (breach,) = breaches(damaged.summary, "volume.newest", "critical")
    assert (breach.table_name, breach.load_id, breach.file) == ("landing.referrals", load_id, file)
    ratio = float(breach.observed_value.split("= ")[1].split(" ")[0])
    assert ratio == pytest.approx(kept / median, abs=5e-3)
    assert f"rows {kept:,}" in breach.message and f"previous_median {median:,.0f}" in breach.message


def test_a_somewhat_smaller_delivery_is_only_a_warning(damaged: Damaged) -> None:
    load_id, _ = damaged.plants["smaller"]
    (warning,) = breaches(damaged.summary, "volume.newest", "warning", "landing.paid_hours")
    assert warning.load_id == load_id
    assert not breaches(damaged.summary, "volume.newest", "critical", "landing.paid_hours")


def test_codes_outside_the_vocabulary_are_critical_and_named(damaged: Damaged) -> None:
    load_id, file, fired = damaged.plants["codes"]
    (breach,) = breaches(damaged.summary, "codes.referrals.end_reason", "critical")
    assert (breach.load_id, breach.file) == (load_id, file)
    assert breach.observed_value == f"referrals.end_reason: fyret (rows {fired})"


def test_a_key_twice_in_a_delivery_is_critical(damaged: Damaged) -> None:
    load_id, file = damaged.plants["duplicates"]
    (breach,) = breaches(damaged.summary, "keys_unique", "critical")
    assert (breach.table_name, breach.load_id, breach.file) == ("landing.referral_results", load_id, file)
    assert breach.observed_value.startswith("duplicate_key_rows = 3")
    assert not breaches(damaged.summary, "load_log", "critical")


def test_a_delivery_without_an_optional_column_is_critical(damaged: Damaged) -> None:
    load_id, file = damaged.plants["empty_column"]
    (breach,) = breaches(damaged.summary, "column_fill", "critical")
    assert (breach.table_name, breach.load_id, breach.file) == ("landing.referrals", load_id, file)
    assert breach.observed_value.startswith("referrals.planned_end_date: 0 (fill_share 0")


def test_many_orphans_in_a_delivery_are_critical(damaged: Damaged) -> None:
    load_id, file, rows, orphaned = damaged.plants["orphans"]
    critical = breaches(damaged.summary, "orphans.referral_id", "critical", "landing.referral_results")
    assert [(r.load_id, r.file) for r in critical] == [(load_id, file)]
    assert f"(rows {rows:,}, orphans_referral_id {orphaned:,})" in critical[0].message


def test_a_column_missing_from_a_landing_table_is_critical(damaged: Damaged) -> None:
    (breach,) = breaches(damaged.summary, "schema.columns", "critical")
    assert breach.table_name == "landing.providers"
    assert breach.message.endswith("missing columns: providers.cvr")


def test_the_error_names_table_check_delivery_and_numbers_and_the_run_is_logged_failed(
    damaged: Damaged,
) -> None:
    critical = damaged.summary.critical
    assert damaged.message.startswith(
        f"{len(critical)} critical data-quality breaches, the data must be corrected"
    )
    assert critical[0].message in damaged.message
    assert (
        f"(all results: meta.quality_results run {damaged.summary.run_id}, quality page " in damaged.message
    )
    (status,) = sql(damaged.settings, "SELECT status FROM meta.runs ORDER BY run_id DESC LIMIT 1")[0]
    assert status == "failed"


def test_stale_extracts_are_critical_each_against_its_own_allowance(
    ingested: Settings, tmp_path: Path
) -> None:
    settings = copy_of(ingested, tmp_path)
    (newest,) = sql(settings, "SELECT max(delivery_date) FROM meta.loads")[0]
    as_of = newest + timedelta(days=CONFIG["freshness"]["max_days"] + 10)
    allowed = CONFIG["freshness"]["max_days_per_extract"]
    newest_per_extract: dict[str, date] = dict(
        sql(settings, "SELECT extract, max(delivery_date) FROM meta.loads GROUP BY 1")
    )
    stale = {
        f"landing.{x}": (as_of - d).days
        for x, d in newest_per_extract.items()
        if (as_of - d).days > allowed.get(x, CONFIG["freshness"]["max_days"])
    }
    with pytest.raises(CriticalQualityError) as caught:
        validate(settings, reference_date=as_of)
    found = {r.table_name: r.observed_value for r in breaches(caught.value.summary, "freshness", "critical")}
    assert "landing.referrals" in stale and "landing.providers" not in stale
    assert found == {
        table: f"days_since_delivery = {days} (delivery_date {newest_per_extract[table[8:]]})"
        for table, days in stale.items()
    }


# --- after a build -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(ingested: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = copy_of(ingested, tmp_path_factory.mktemp("built"))
    build(settings)
    return settings


def test_the_marts_of_a_real_build_pass_their_suites(built: Settings) -> None:
    summary = validate_marts(built)
    assert summary.critical == []
    assert {r.table_name for r in summary.results} == {"fct_referral_outcomes", "mart_provider_results"}


def wired(verb: str) -> bool:
    try:
        build_parser().parse_args([verb])
    except SystemExit:
        return False
    return True


@pytest.mark.skipif(not wired("run"), reason="`provmon run` is not wired yet")
def test_run_stops_on_a_critical_breach_and_leaves_the_previous_marts(built: Settings) -> None:
    marts_before = tree_digest(built.marts_dir)
    (rows_before,) = sql(built, "SELECT count(*) FROM main.mart_provider_results")[0]
    load_id, _ = newest_load(built, "referrals", back=2)
    sql(built, "UPDATE landing.referrals SET purpose = 'lottery' WHERE _load_id = ?", [load_id])
    argv = [
        "--warehouse",
        str(built.warehouse),
        "--raw-dir",
        str(built.raw_dir),
        "--out-dir",
        str(built.out_dir),
    ]
    assert main(["run", *argv]) != 0
    assert tree_digest(built.marts_dir) == marts_before
    assert sql(built, "SELECT count(*) FROM main.mart_provider_results")[0] == (rows_before,)
    last = sql(built, "SELECT status FROM meta.runs WHERE verb = 'validate' ORDER BY run_id DESC LIMIT 1")
    assert last == [("failed",)]
    runs = sql(built, "SELECT verb, status, summary FROM meta.runs WHERE verb = 'run'")
    assert [(verb, status) for verb, status, _ in runs] == [("run", "failed")]
    assert "critical data-quality breach" in runs[0][2]
