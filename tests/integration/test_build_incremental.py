"""An incremental build gives exactly what a full build gives (issue 19): the small data set fed
month by month, with a correction of an old month and a late delivery, built incrementally after
each month, against a full build (--full-refresh) of the same warehouse: every public mart equal
row for row and bit for bit (pipeline/equivalence.py), and the benefit spells behind them, which
an incremental build keeps for the weeks no new load touched. The corrections: an old referral's
purpose, and an old benefit week of a referred person taken out of the middle of a spell in one
month and put back the next."""

from __future__ import annotations

import csv
import datetime as dt
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
import yaml

from pipeline.build import PROJECT_DIR, BuildError, BuildSummary, build
from pipeline.equivalence import compare_trees, model_grains
from pipeline.generate import generate
from pipeline.ingest import ingest
from pipeline.landing_checks import last_checked
from pipeline.project_tests import SQL_TAG, Passed, last_passed, types_digest
from pipeline.settings import Settings
from pipeline.sql import ident, literal
from pipeline.stats.incremental import previous_relation
from tests.conftest import SMALL_SEED, copy_settings

pytestmark = pytest.mark.integration

DELIVERY_DATE = re.compile(r"_(\d{8})\.[A-Za-z]+$")
# Months fed one at a time after the first build (the newest deliveries).
INCREMENTAL_MONTHS = 2
# The extract whose delivery of the first incremental month arrives a month late.
LATE_EXTRACT = "paid_hours"
# The correction: an old referral's purpose (a covariate of the risk model) delivered again.
CORRECTED_MONTHS_BACK = 12
PURPOSES = ("job", "paid_hours", "education", "clarification", "return_to_work", "retention")
# The corrected benefit week, one month each: out of its spell (a student grant counts as
# self-supporting), then back in.
BENEFIT_CORRECTIONS = ("student_grant", "cash_assistance")
ON_BENEFIT = "cash_assistance"
SPELLS = "int_benefit_weeks_grouped_to_spells"
TEST_KEY = "incremental-build-test-key-of-32-characters"
KEPT_LOG = re.compile(r"risk adjustment: (\d+) of (\d+) months")
CUSUM_KEPT_LOG = re.compile(r"CUSUM thresholds: (\d+) of (\d+) area months")
EXPECTED_KEPT_LOG = re.compile(r"expected probabilities: (\d+) of (\d+) months")
# The loggers of the incremental models: the risk adjustment's and the CUSUM thresholds'.
INCREMENTAL_LOGGERS = ("pipeline.stats.incremental", "pipeline.stats.cusum_incremental")


def delivery_date(path: Path) -> str | None:
    found = DELIVERY_DATE.search(path.name)
    return found.group(1) if found else None


def copy_into(raw: Path, feed: Path, wanted: list[Path]) -> None:
    for path in wanted:
        target = feed / path.relative_to(raw)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)


def correction_of_an_old_referral(raw: Path, feed: Path, day: str) -> None:
    """A referrals delivery dated `day` that re-delivers one referral of an old, plain delivery
    with another purpose (a later delivery supersedes an earlier one by its key)."""
    plain = [
        p
        for p in sorted((raw / "referrals").glob("*.csv"))
        if p.read_text(encoding="utf-8", errors="replace").startswith("referral_id,")
    ]
    source = plain[-CORRECTED_MONTHS_BACK]
    with open(source, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    row = next(r for r in rows if r["end_date"] and r["purpose"] in PURPOSES)
    row["purpose"] = next(p for p in PURPOSES if p != row["purpose"])
    with open(feed / "referrals" / f"referrals_{day}.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)


def read_plain(folder: Path, header: str) -> list[list[dict[str, str]]]:
    """The rows of each plain CSV delivery (header line `header`) in `folder`, oldest first."""
    files = [
        p
        for p in sorted(folder.glob("*.csv"))
        if p.read_text(encoding="utf-8", errors="replace").startswith(header)
    ]
    deliveries = []
    for path in files:
        with open(path, encoding="utf-8", newline="") as fh:
            deliveries.append(list(csv.DictReader(fh)))
    return deliveries


def old_week_inside_a_spell(raw: Path) -> dict[str, str]:
    """A week of a referred person in an old benefit-weeks delivery whose weeks before and after
    are on benefit too: taking it out splits a spell."""
    referred = {r["cpr"] for rows in read_plain(raw / "referrals", "referral_id,") for r in rows}
    rows = read_plain(raw / "benefit_weeks", "cpr,")[-CORRECTED_MONTHS_BACK]
    on_benefit = {(r["cpr"], r["week_start"]) for r in rows if r["benefit"] == ON_BENEFIT}
    for cpr, week in sorted(on_benefit):
        monday = dt.date.fromisoformat(week)
        around = [(cpr, (monday + dt.timedelta(days=d)).isoformat()) for d in (-7, 7)]
        if cpr in referred and all(w in on_benefit for w in around):
            return {"cpr": cpr, "week_start": week, "benefit": ON_BENEFIT}
    raise AssertionError("no old benefit week inside a spell of a referred person")


def correction_of_an_old_benefit_week(raw: Path, feed: Path, day: str, benefit: str) -> None:
    """A benefit-weeks delivery dated `day` that delivers old_week_inside_a_spell again as `benefit`."""
    row = old_week_inside_a_spell(raw) | {"benefit": benefit}
    with open(feed / "benefit_weeks" / f"benefit_weeks_{day}.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)


def kept_counts(
    records: list[logging.LogRecord], pattern: re.Pattern[str] = KEPT_LOG
) -> list[tuple[int, int]]:
    """(kept, all) months × areas × measures of each risk adjustment logged by a build (or what
    `pattern` counts: CUSUM_KEPT_LOG the thresholds' area months)."""
    return [
        (int(m.group(1)), int(m.group(2)))
        for r in records
        if (m := pattern.search(r.getMessage())) is not None
    ]


@dataclass
class Fed:
    """The warehouse fed month by month: its settings, the first (full) build's summary, and
    per incremental build its summary and what the incremental models logged (what they kept)."""

    settings: Settings
    first: BuildSummary
    summaries: list[BuildSummary] = field(default_factory=list)
    logged: list[list[logging.LogRecord]] = field(default_factory=list)


@pytest.fixture(scope="module")
def fed_month_by_month(tmp_path_factory: pytest.TempPathFactory) -> Fed:
    """The small data set built once on all but the newest INCREMENTAL_MONTHS months, then
    incrementally after each of them."""
    with pytest.MonkeyPatch.context() as patch:
        # The correction is not a file the generator wrote, so the demo key may not be used.
        patch.setenv("PROVMON_PSEUDONYM_KEY", TEST_KEY)
        return feed_month_by_month(tmp_path_factory.mktemp("incremental"))


def feed_month_by_month(root: Path) -> Fed:
    raw, feed = root / "raw", root / "feed"
    generate(scale="small", seed=SMALL_SEED, out=raw)
    files = [p for p in raw.rglob("*") if p.is_file()]
    dates = sorted({d for p in files if (d := delivery_date(p))})
    months = dates[-INCREMENTAL_MONTHS:]
    copy_into(raw, feed, [p for p in files if (delivery_date(p) or "") < months[0]])
    settings = Settings.resolve(
        warehouse=str(root / "warehouse" / "warehouse.duckdb"),
        raw_dir=str(feed),
        out_dir=str(root / "reports"),
    )
    ingest(settings)
    fed = Fed(settings, build(settings))

    late = [p for p in files if delivery_date(p) == months[0] and p.parent.name == LATE_EXTRACT]
    for i, month in enumerate(months):
        on_time = [p for p in files if delivery_date(p) == month and p not in late]
        copy_into(raw, feed, on_time + (late if i > 0 else []))
        day = (dt.datetime.strptime(month, "%Y%m%d") + dt.timedelta(days=1)).strftime("%Y%m%d")
        if i == 0:
            correction_of_an_old_referral(raw, feed, day)
        correction_of_an_old_benefit_week(raw, feed, day, BENEFIT_CORRECTIONS[i % len(BENEFIT_CORRECTIONS)])
        ingest(settings)
        handler = _Collect()
        for name in INCREMENTAL_LOGGERS:
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).setLevel(logging.INFO)
        try:
            fed.summaries.append(build(settings))
        finally:
            for name in INCREMENTAL_LOGGERS:
                logging.getLogger(name).removeHandler(handler)
        fed.logged.append(handler.records)
    return fed


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_incremental_builds_kept_months_and_recomputed_others(fed_month_by_month) -> None:
    for records in fed_month_by_month.logged:
        # once: the risk adjustment alone fits the models (fct_referral_expected reads them)
        ((kept_months, months),) = kept_counts(records)
        assert 0 < kept_months < months


def test_the_incremental_builds_kept_the_expected_probabilities_of_the_kept_months(
    fed_month_by_month,
) -> None:
    """fct_referral_expected keeps the months the risk adjustment kept, and only those."""
    for records in fed_month_by_month.logged:
        assert kept_counts(records, EXPECTED_KEPT_LOG) == kept_counts(records)


def test_the_incremental_builds_kept_cusum_thresholds_and_simulated_others(fed_month_by_month) -> None:
    for records in fed_month_by_month.logged:
        ((kept, area_months),) = kept_counts(records, CUSUM_KEPT_LOG)
        assert 0 < kept < area_months


def test_every_public_mart_equals_a_full_build_of_the_same_data(fed_month_by_month, tmp_path: Path) -> None:
    incremental = fed_month_by_month.settings
    full = copy_settings(incremental, tmp_path / "full")
    refreshed = build(full, full_refresh=True)
    assert refreshed.project_tests == fed_month_by_month.first.project_tests  # a full refresh runs all
    grains = model_grains(PROJECT_DIR)
    assert list(compare_trees(incremental.marts_dir, full.marts_dir, grains)) == []  # the Parquet marts
    ours = public_tables(incremental, tmp_path / "ours")
    assert public_tables(full, tmp_path / "theirs") == ours
    assert {
        "fct_referral_expected",
        "fct_decision_inputs",
        "mart_provider_results",
        "fct_provider_cusum",
        "fct_cusum_thresholds",
    } <= set(ours)
    assert list(compare_trees(tmp_path / "ours", tmp_path / "theirs", grains)) == []
    assert built_rows(incremental, SPELLS) == built_rows(full, SPELLS)


def test_the_incremental_builds_kept_the_benefit_spells_no_new_load_touched(
    fed_month_by_month, tmp_path: Path
) -> None:
    """An old spell taken out of the published build's spells by hand (which a build never does)
    stays out of the next incremental build, which keeps the weeks no new load touched instead
    of grouping every week again; --full-refresh groups every week and has it back. The spells'
    data tests pass either way (a person-week in no spell is self-supporting)."""
    settings = copy_settings(fed_month_by_month.settings, tmp_path / "spells")
    with duckdb.connect(str(settings.warehouse)) as con:
        spells = published_relation(con, SPELLS)
        oldest = con.execute(
            f"select * from {spells} order by first_week_start, person_id limit 1"
        ).fetchone()
        con.execute(f"delete from {spells} where person_id = ? and first_week_start = ?", oldest[:2])
    build(settings)
    assert oldest not in built_rows(settings, SPELLS)
    build(settings, full_refresh=True)
    assert oldest in built_rows(settings, SPELLS)


def published_relation(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """`name` as the published build made it (in its schema or one dbt made beside it)."""
    relation = previous_relation(con, published_schema_of(con), name)
    assert relation is not None, name
    return relation


def published_schema_of(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select build_schema from meta.published_build").fetchone()[0]


def built_rows(settings: Settings, name: str) -> list[tuple]:
    """Every row of `name` in the published build, in order."""
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(f"select * from {published_relation(con, name)} order by all").fetchall()


def test_the_incremental_builds_skipped_the_project_tests_that_passed_on_the_same_project(
    fed_month_by_month,
) -> None:
    """The first build runs every unit test and every test tagged follows_from_sql (counted
    in the ymls); the builds after it, on the same project, run the data tests only."""
    first = fed_month_by_month.first
    assert first.project_tests == declared_project_tests() > 0
    for summary in fed_month_by_month.summaries:
        assert summary.project_tests == 0
        assert summary.tests == first.tests - first.project_tests
        assert "the project's own tests skipped" in str(summary)


def test_a_build_on_the_same_code_runs_the_project_tests_when_the_column_types_changed(
    fed_month_by_month, tmp_path: Path
) -> None:
    """A landing table gains a column (a new contract version): the fixtures of the unit tests
    reading it take their types from it, so the build runs the project's own tests after the
    build, and records the new types."""
    settings = copy_settings(fed_month_by_month.settings, tmp_path / "changed")
    with duckdb.connect(str(settings.warehouse)) as con:
        before = last_passed(con)
        con.execute("alter table landing.referrals add column case_note varchar")
    summary = build(settings)
    assert summary.project_tests == declared_project_tests()
    assert not summary.project_tests_skipped
    assert summary.tests == fed_month_by_month.first.tests
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        after = last_passed(con)
        schema = published_schema_of(con)
        assert after == Passed(before.code, types_digest(con, schema)) != before


def test_a_build_on_the_same_code_checks_only_the_landing_rows_of_loads_it_has_not_checked(
    fed_month_by_month, tmp_path: Path
) -> None:
    """Landing is append-only, so the row tests of the benefit weeks (10^8 rows nationally) need
    to see only the loads added since the last build on the same code checked the others: a row
    of an old load changed by hand (which ingest never does) passes an incremental build, fails
    a --full-refresh build (which checks every row), and a bad row of a new load fails the next
    incremental build by itself."""
    settings = copy_settings(fed_month_by_month.settings, tmp_path / "landing")
    with duckdb.connect(str(settings.warehouse)) as con:
        newest = con.execute("select max(load_id) from meta.loads").fetchone()[0]
        recorded = last_checked(con)
        assert recorded is not None and recorded.through == newest
        first_load = con.execute("select min(_load_id) from landing.benefit_weeks").fetchone()[0]
        con.execute(
            "update landing.benefit_weeks set benefit = 'no_such_benefit' "
            "where _load_id = ? and _row_number = 1",
            [first_load],
        )
    build(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert last_checked(con) == recorded

    with pytest.raises(BuildError, match="accepted_values_stg_landing__benefit_weeks_benefit_code"):
        build(settings, full_refresh=True)

    with duckdb.connect(str(settings.warehouse)) as con:
        # One delivered row twice in a new load: a repeated (load, row number).
        source = con.execute(
            "select max(_load_id) from landing.benefit_weeks where _row_number = 2"
        ).fetchone()[0]
        con.execute(
            "insert into landing.benefit_weeks select w.* replace (? as _load_id) "
            "from landing.benefit_weeks as w, range(2) where w._load_id = ? and w._row_number = 2",
            [newest + 1, source],
        )
    with pytest.raises(BuildError) as failed:
        build(settings)
    assert "unique_combination" in str(failed.value)
    assert "accepted_values" not in str(failed.value)


def declared_project_tests() -> int:
    """The unit tests and the data tests tagged follows_from_sql in the project's ymls."""
    count = 0
    for path in (PROJECT_DIR / "models").rglob("_*.yml"):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        count += len(document.get("unit_tests", []))
        for model in document.get("models", []):
            tests = [*model.get("data_tests", [])]
            tests += [t for column in model.get("columns", []) for t in column.get("data_tests", [])]
            for test in tests:
                config = next(iter(test.values())).get("config", {}) if isinstance(test, dict) else {}
                count += SQL_TAG in config.get("tags", [])
    return count


def public_tables(settings: Settings, folder: Path) -> list[str]:
    """Every public table and view of the warehouse (schema main) written to folder as Parquet,
    those the build does not export included (fct_referral_expected, fct_decision_inputs …)."""
    folder.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        names = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'main' "
                "and table_catalog = current_database() order by 1"
            ).fetchall()
        ]
        for name in names:
            con.execute(f"copy (select * from main.{ident(name)}) to {literal(folder / f'{name}.parquet')}")
    return names
