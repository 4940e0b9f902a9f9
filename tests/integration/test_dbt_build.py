"""The dbt build on the small synthetic data set (generator -> ingestion -> provmon build), checked
against counts computed independently in Python from the landing tables, against statsmodels
for the Wilson interval, and against a second build for a past as_of (event-date discipline:
a past month's provider results must not change when later data arrives)."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
import shutil
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from pipeline.build import BuildSummary, build, dbt_args, dbt_work_dir, run_dbt
from pipeline.contract import load_contract
from pipeline.generate import generate
from pipeline.ingest import ingest
from pipeline.settings import Settings

pytestmark = pytest.mark.integration

PAST_AS_OF = dt.date(2024, 3, 31)
GRACE_DAYS = 30
FIT_DAYS = 182
WINDOW_MONTHS = 6
ROLLING_MONTHS = 12
MIN_HOURS = 1.0  # progression_min_hours
AFTERCARE = {"eftv"}
RETENTION_MONTHS = 6
MAX_GAP_DAYS = 7  # rebooking_max_gap_days
FIT_REASONS = ("fit", "partially_fit")
# metrics.md's default purpose_result_types, and the purpose a raskmelding achieves too
ACHIEVES = {
    "job": {"ordinary_job", "flex_job"},
    "paid_hours": {"paid_hours", "ordinary_job", "flex_job"},
    "education": {"education"},
    "clarification": {"clarified", "flex_job"},
    "return_to_work": {"ordinary_job", "paid_hours", "flex_job"},
    "retention": {"ordinary_job", "paid_hours"},
}


@dataclass(frozen=True)
class Built:
    settings: Settings
    summary: BuildSummary
    past_settings: Settings
    past_summary: BuildSummary


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("dbt_build")
    raw = root / "raw"
    generate(scale="small", seed=1, out=raw)
    settings = Settings.resolve(warehouse=str(root / "now" / "warehouse.duckdb"), raw_dir=str(raw))
    settings.warehouse.parent.mkdir()
    ingest(settings)
    past = Settings.resolve(warehouse=str(root / "past" / "warehouse.duckdb"), raw_dir=str(raw))
    past.warehouse.parent.mkdir()
    shutil.copy(settings.warehouse, past.warehouse)
    return Built(settings, build(settings), past, build(past, as_of=PAST_AS_OF))


def query(settings: Settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql).df()


# --- an independent implementation of some measures, in pandas over the landing tables ---------


def newest(settings: Settings, extract: str) -> pd.DataFrame:
    """The landing rows of the newest delivery per business key (docs/warehouse.md)."""
    key = ["person_key" if c == "cpr" else c for c in load_contract().extracts[extract].key]
    rows = query(settings, f"select * from landing.{extract}")
    rows = rows.sort_values(["_delivery_date", "_load_id", "_row_number"])
    return rows.drop_duplicates(key, keep="last").reset_index(drop=True)


def as_date(value: object) -> dt.date | None:
    return None if pd.isna(value) else pd.Timestamp(value).date()


def month_index(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def month_of(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def last_day(index: int) -> dt.date:
    first = month_of(index)
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def courses(links: list[dict]) -> list[dict]:
    """metrics.md's course chains over the referrals known at as_of: a continuation names the
    rebooked referral before it, or else is the same person's next referral to the same provider
    and area starting 0-7 days after its end (each side taking its nearest). Each course is one
    dict shaped like a referral: s of its first link, everything else of its last, and the ids of
    all its links (their results are the course's)."""
    by_id = {link["referral_id"]: link for link in links}
    before = {i: (link["s"], i) for i, link in by_id.items()}
    rebooked = {i for i, link in by_id.items() if link["rebooked"]}
    successor: dict[str, str] = {}
    for i in sorted(by_id):
        named = by_id[i]["previous"]
        if named in rebooked and before[named] < before[i] and named not in successor:
            successor[named] = i

    def inferred(p: str) -> list[str]:
        a = by_id[p]
        return sorted(
            (i for i, c in by_id.items()
             if c["previous"] is None and i != p and before[p] < before[i]
             and (c["person_key"], c["provider_id"], c["tender_area"])
             == (a["person_key"], a["provider_id"], a["tender_area"])
             and a["e"] <= c["s"] <= a["e"] + dt.timedelta(days=MAX_GAP_DAYS)),
            key=lambda i: before[i],
        )  # fmt: skip

    open_rebooked = sorted(rebooked - set(successor))
    wanted = {p: inferred(p) for p in open_rebooked}
    for p in open_rebooked:
        if not wanted[p]:
            continue
        first = wanted[p][0]
        rivals = [q for q in open_rebooked if first in wanted[q]]
        if max(rivals, key=lambda q: (by_id[q]["e"], q)) == p:
            successor[p] = first
    followers = set(successor.values())
    result = []
    for root in (i for i in by_id if i not in followers):
        chain = [root]
        while chain[-1] in successor:
            chain.append(successor[chain[-1]])
        result.append({**by_id[chain[-1]], "s": by_id[root]["s"], "links": chain})
    return result


class Reference:
    """Per-referral flags and window ends, computed without the dbt code."""

    def __init__(self, settings: Settings, as_of: dt.date) -> None:
        self.as_of = as_of
        providers = set(newest(settings, "providers").provider_id)
        agreements = newest(settings, "agreements")
        agreements = agreements[agreements.provider_id.isin(providers)].set_index("agreement_id")
        referrals = newest(settings, "referrals")
        referrals = referrals[referrals.agreement_id.isin(agreements.index)]
        referrals = referrals[referrals.start_date.dt.date <= as_of]
        links = [
            {
                "referral_id": r.referral_id,
                "person_key": r.person_key,
                "provider_id": agreements.provider_id[r.agreement_id],
                "tender_area": int(agreements.tender_area[r.agreement_id]),
                "aftercare": agreements.offer_code[r.agreement_id].lower() in AFTERCARE,
                "purpose": r.purpose.lower(),
                "s": as_date(r.start_date),
                "e": e if (e := as_date(r.end_date)) is not None and e <= as_of else None,
                "rebooked": e is not None and e <= as_of and str(r.end_reason).lower() == "rebooked",
                "previous": None if pd.isna(r.previous_referral_id) else r.previous_referral_id,
            }
            for r in referrals.itertuples()
        ]
        self.referrals = courses(links)
        hours = newest(settings, "paid_hours")
        hours = hours[hours.hours > 0]
        self.paid_months: dict[str, dict[int, float]] = {}
        for person, month, amount in zip(hours.person_key, hours.month, hours.hours, strict=True):
            if last_day(month_index(as_date(month))) <= as_of:
                self.paid_months.setdefault(person, {})[month_index(as_date(month))] = float(amount)
        weeks = newest(settings, "benefit_weeks")
        weeks = weeks[weeks.benefit != "student_grant"]
        self.benefit_weeks = set(zip(weeks.person_key, weeks.week_start.dt.date, strict=True))
        self.results: dict[str, list[tuple[dt.date, str]]] = {}
        results = newest(settings, "referral_results")
        for referral, day, kind in zip(
            results.referral_id, results.result_date, results.result_type, strict=True
        ):
            self.results.setdefault(referral, []).append((as_date(day), kind.lower()))
        self.cases: dict[str, list[tuple[dt.date, dt.date | None, str | None]]] = {}
        for c in newest(settings, "sickness_cases").itertuples():
            first = as_date(c.first_sick_day)
            end = as_date(c.case_end_date)
            if first > as_of:
                continue
            known = end is not None and end <= as_of
            self.cases.setdefault(c.person_key, []).append(
                (first, end if known else None, c.end_reason if known else None)
            )

    def course_results(self, r: dict) -> list[tuple[dt.date, str]]:
        return [result for link in r["links"] for result in self.results.get(link, [])]

    def has_result(self, r: dict) -> tuple[dt.date, bool] | None:
        """(window end, success) of a closed referral; None when not closed or efterværn."""
        if r["aftercare"] or r["e"] is None or r["e"] + dt.timedelta(days=GRACE_DAYS) > self.as_of:
            return None
        end = r["e"] + dt.timedelta(days=GRACE_DAYS)
        return end, any(r["s"] <= d <= end for d, _ in self.course_results(r))

    def purpose_achieved(self, r: dict) -> tuple[dt.date, bool] | None:
        closed = self.has_result(r)
        if closed is None:
            return None
        end = closed[0]
        accepted = ACHIEVES[r["purpose"]]
        by_result = any(r["s"] <= d <= end and kind in accepted for d, kind in self.course_results(r))
        by_fit = r["purpose"] == "return_to_work" and any(
            c[2] in FIT_REASONS and r["s"] <= c[1] <= end for c in self.cases.get(r["person_key"], [])
        )
        return end, by_result or by_fit

    def hours(self, r: dict, month: int) -> float:
        return self.paid_months.get(r["person_key"], {}).get(month, 0.0)

    def baseline(self, r: dict) -> float:
        first = month_index(r["s"])
        return round(sum(self.hours(r, first - k) for k in (1, 2, 3)), 9) / 3

    def any_paid_hours_6m(self, r: dict) -> tuple[dt.date, bool] | None:
        first = month_index(r["s"])
        end = last_day(first + WINDOW_MONTHS - 1)
        if r["aftercare"] or end > self.as_of:
            return None
        return end, any(self.hours(r, first + k) > 0 for k in range(WINDOW_MONTHS))

    def job_month(self, r: dict) -> int | None:
        """The first month of the window with hours at least the baseline + MIN_HOURS."""
        first, level = month_index(r["s"]), self.baseline(r) + MIN_HOURS
        return next((first + k for k in range(WINDOW_MONTHS) if 0 < self.hours(r, first + k) >= level), None)

    def sustained_3m(self, r: dict) -> tuple[dt.date, bool] | None:
        job = self.job_month(r)
        if r["aftercare"] or job is None or last_day(job + 3) > self.as_of:
            return None
        return last_day(job + 3), self.hours(r, job + 3) > self.baseline(r)

    def free_weeks(self, r: dict, month: int) -> tuple[dt.date, int]:
        """(Sunday of the 4th week, weeks without benefit) of the first four Mondays of a month."""
        first_of_month = month_of(month)
        monday = first_of_month + dt.timedelta(days=(7 - first_of_month.weekday()) % 7)
        mondays = [monday + dt.timedelta(days=7 * k) for k in range(4)]
        free = sum((r["person_key"], m) not in self.benefit_weeks for m in mondays)
        return mondays[-1] + dt.timedelta(days=6), free

    def self_supporting_3m(self, r: dict) -> tuple[dt.date, bool] | None:
        job = self.job_month(r)
        if r["aftercare"] or job is None:
            return None
        end, free = self.free_weeks(r, job + 3)
        return None if end > self.as_of else (end, free >= 3)

    def retained_6m(self, r: dict) -> tuple[dt.date, bool] | None:
        """Efterværn only: paid hours in M(s) + 6 or 3 of its first 4 weeks without benefit."""
        if not r["aftercare"]:
            return None
        month = month_index(r["s"]) + RETENTION_MONTHS
        sunday, free = self.free_weeks(r, month)
        end = max(sunday, last_day(month))
        return None if end > self.as_of else (end, self.hours(r, month) > 0 or free >= 3)

    def fit_within_6m(self, r: dict) -> tuple[dt.date, bool] | None:
        if r["aftercare"]:
            return None
        end = r["s"] + dt.timedelta(days=FIT_DAYS)
        open_at_start = [
            c
            for c in self.cases.get(r["person_key"], [])
            if c[0] <= r["s"] and (c[1] is None or c[1] >= r["s"])
        ]
        if end > self.as_of or not open_at_start:
            return None
        return end, any(c[2] in ("fit", "partially_fit") and c[1] <= end for c in open_at_start)

    def provider_counts(self, measure: str, month: dt.date) -> dict[tuple[str, int], tuple[int, int]]:
        """(n, successes) per provider and area over the 12 months of window ends up to `month`."""
        high = month_index(month)
        counts: dict[tuple[str, int], list[int]] = {}
        for r in self.referrals:
            flag = getattr(self, measure)(r)
            if flag is None or not high - ROLLING_MONTHS < month_index(flag[0]) <= high:
                continue
            cell = counts.setdefault((r["provider_id"], r["tender_area"]), [0, 0])
            cell[0] += 1
            cell[1] += int(flag[1])
        return {k: (v[0], v[1]) for k, v in counts.items()}


MEASURES = ["has_result", "any_paid_hours_6m", "sustained_3m", "self_supporting_3m", "fit_within_6m",
            "purpose_achieved", "retained_6m"]  # fmt: skip


def mart_counts(settings: Settings, measure: str, month: dt.date) -> dict[tuple[str, int], tuple[int, int]]:
    rows = query(
        settings,
        f"select provider_id, tender_area, n, successes from mart_provider_results "
        f"where measure = '{measure}' and as_of_month = '{month.isoformat()}' and n > 0",
    )
    return {(r.provider_id, int(r.tender_area)): (int(r.n), int(r.successes)) for r in rows.itertuples()}


def test_default_as_of_is_the_month_end_before_the_newest_referrals_delivery(built: Built) -> None:
    newest_delivery = query(built.settings, "select max(_delivery_date) as d from landing.referrals").d[0]
    first_of_month = pd.Timestamp(newest_delivery).date().replace(day=1)
    assert built.summary.as_of == first_of_month - dt.timedelta(days=1)
    assert built.past_summary.as_of == PAST_AS_OF


@pytest.mark.parametrize("measure", MEASURES)
def test_mart_counts_equal_an_independent_computation(built: Built, measure: str) -> None:
    reference = Reference(built.settings, built.summary.as_of)
    last = month_of(month_index(built.summary.as_of))
    for month in (last, month_of(month_index(last) - 5)):
        expected = reference.provider_counts(measure, month)
        assert sum(n for n, _ in expected.values()) > 50, "too small a base to compare"
        assert mart_counts(built.settings, measure, month) == expected, f"{measure} {month}"


def test_past_build_counts_equal_an_independent_computation_at_that_date(built: Built) -> None:
    reference = Reference(built.past_settings, PAST_AS_OF)
    month = PAST_AS_OF.replace(day=1)
    for measure in MEASURES:
        assert mart_counts(built.past_settings, measure, month) == reference.provider_counts(measure, month)


def test_past_months_do_not_change_when_later_data_arrives(built: Built) -> None:
    """Event-date discipline: the provider rows of every month up to a past as_of are the same
    whether built then or now, so trends and back-tests need no rebuilds."""
    columns = "as_of_month, provider_id, tender_area, measure, n, successes, value_sum"
    where = f"where as_of_month <= '{PAST_AS_OF.isoformat()}'"
    order = "order by as_of_month, provider_id, tender_area, measure"
    now = query(built.settings, f"select {columns} from mart_provider_results {where} {order}")
    past = query(built.past_settings, f"select {columns} from mart_provider_results {where} {order}")
    assert len(past) > 1000
    pd.testing.assert_frame_equal(now, past)


def test_wilson_interval_matches_statsmodels(built: Built) -> None:
    rows = query(
        built.settings,
        "select n, successes, rate_low, rate_high from mart_provider_results "
        "where measure_kind = 'binary' and n > 0",
    )
    low, high = proportion_confint(rows.successes, rows.n, alpha=0.05, method="wilson")
    np.testing.assert_allclose(rows.rate_low, low, atol=1e-6)
    np.testing.assert_allclose(rows.rate_high, high, atol=1e-6)


def test_area_rate_without_the_provider_pools_the_other_providers(built: Built) -> None:
    rows = query(
        built.settings,
        "select as_of_month, tender_area, measure, provider_id, n, successes, area_rate_excl_provider "
        "from mart_provider_results where measure_kind = 'binary'",
    )
    group = rows.groupby(["as_of_month", "tender_area", "measure"])
    others_n = group.n.transform("sum") - rows.n
    others_s = group.successes.transform("sum") - rows.successes
    expected = (others_s / others_n.replace(0, np.nan)).to_numpy()
    np.testing.assert_allclose(rows.area_rate_excl_provider.to_numpy(dtype=float), expected, equal_nan=True)


def test_immature_measures_are_null_never_false(built: Built) -> None:
    """A measure whose window ends after as_of is NULL; one whose window has ended is not, for a
    course (its last link) in the measure's population. Earlier links are NULL throughout."""
    fct = query(built.settings, "select * from fct_referral_outcomes")
    as_of = pd.Timestamp(built.summary.as_of)
    earlier_link = fct.is_course_ended.isna()
    assert earlier_link.any(), "the small data set has rebooked courses"
    measures = ["any_paid_hours_6m", "has_result", "fit_within_6m", "course_days"]
    assert fct.loc[earlier_link, measures].isna().all().all()
    courses = fct[~earlier_link & ~fct.is_aftercare.astype(bool)]
    immature = courses.paid_hours_window_end > as_of
    assert immature.any() and (~immature).any()
    assert courses.loc[immature, "any_paid_hours_6m"].isna().all()
    assert courses.loc[~immature, "any_paid_hours_6m"].notna().all()
    immature_fit = courses.fit_window_end > as_of
    sick = courses.sick_listed_at_start.astype(bool)
    assert courses.loc[immature_fit, "fit_within_6m"].isna().all()
    assert courses.loc[~immature_fit & sick, "fit_within_6m"].notna().all()
    assert courses.loc[~sick, "fit_within_6m"].isna().all()


def test_marts_exported_as_parquet_without_cpr(built: Built) -> None:
    exported = {p.stem: p for p in built.summary.exported}
    assert {"fct_referral_outcomes", "mart_provider_results", "mart_data_exclusions"} <= set(exported)
    assert not list(built.settings.marts_dir.glob(".*tmp*")), "a temporary file was left behind"
    cpr_like = r"\s*\d{6}-?\d{4}\s*"  # a value that is a CPR number
    for name, path in exported.items():
        frame = pd.read_parquet(path)
        assert len(frame) == len(query(built.settings, f"select * from main.{name}")), name
        text = frame.select_dtypes(["object", "string"]).astype(str)
        for column in text.columns:
            assert not text[column].str.fullmatch(cpr_like).any(), f"{name}.{column} holds a CPR"


def test_docs_generate_and_every_built_column_is_described(built: Built) -> None:
    """`dbt docs generate` works on the built warehouse, and every column it finds in a model of
    ours (the catalog) has a description (the manifest): nothing undocumented slips in."""
    run_dbt(built.settings.warehouse.resolve(), dbt_args(None, command=("docs", "generate")))
    target = dbt_work_dir(built.settings.warehouse.resolve()) / "target"
    catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))["nodes"]
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))["nodes"]
    undocumented = []
    for unique_id, node in catalog.items():
        described = {
            name.lower() for name, column in manifest[unique_id]["columns"].items() if column["description"]
        }
        assert manifest[unique_id]["description"], unique_id
        undocumented += [f"{unique_id}.{c}" for c in node["columns"] if c.lower() not in described]
    assert len(catalog) >= 30
    assert not undocumented
    # The lineage docs show runs one way: no staging or intermediate model has a mart parent,
    # and mart_provider_results reaches the landing referrals through the per-referral models.
    manifest_all = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    parents, nodes = manifest_all["parent_map"], manifest_all["nodes"]
    layer = {uid: node["fqn"][1] for uid, node in nodes.items() if node["resource_type"] == "model"}
    against = [(u, p) for u in layer for p in parents[u] if layer[u] != "marts" and layer.get(p) == "marts"]
    assert not against
    upstream, todo = set(), ["model.provmon.mart_provider_results"]
    while todo:
        new = set(parents.get(todo.pop(), [])) - upstream
        upstream |= new
        todo += new
    assert {"source.provmon.landing.referrals", "model.provmon.int_referral_measures_unpivoted"} <= upstream


def test_the_spells_test_fails_on_a_week_counted_twice(built: Built) -> None:
    """The person-weeks the benefit spells are grouped from have no key test of their own
    (dbt_project/README.md, "The big extract"): spells_are_whole_and_apart stands in for it.
    Its SQL as this build compiled it passes on the built spells and fails on the spells a week
    delivered twice gives when the newest-delivery rule is left out (the week ends one spell and
    starts the next), and on a spell whose week count does not match its span."""
    target = dbt_work_dir(built.settings.warehouse.resolve()) / "target"
    compiled = sorted(target.rglob("spells_are_whole_and_apart_*.sql"))
    assert compiled, f"no compiled spells test under {target}"
    sql = compiled[0].read_text(encoding="utf-8")
    relation = re.search(r'"[^"\s]*"\."[^"\s]*"\."int_benefit_weeks_grouped_to_spells"', sql)
    assert relation is not None, sql
    spells = "(values {}) as spells(person_id, first_week_start, last_week_start, weeks)"

    def failing(rows: str) -> int:
        with duckdb.connect(str(built.settings.warehouse), read_only=True) as con:
            return len(con.execute(sql.replace(relation.group(0), spells.format(rows))).fetchall())

    with duckdb.connect(str(built.settings.warehouse), read_only=True) as con:
        assert con.execute(sql).fetchall() == []
        assert con.execute(f"select count(*) from {relation.group(0)}").fetchone()[0] > 100
    week = "(1, date '{}', date '{}', {})"
    apart = [week.format("2024-01-01", "2024-01-08", 2), week.format("2024-01-22", "2024-01-22", 1)]
    assert failing(", ".join(apart)) == 0
    twice = [week.format("2024-01-01", "2024-01-08", 2), week.format("2024-01-08", "2024-01-15", 2)]
    assert failing(", ".join(twice)) == 1
    touching = [week.format("2024-01-01", "2024-01-08", 2), week.format("2024-01-15", "2024-01-15", 1)]
    assert failing(", ".join(touching)) == 1
    assert failing(week.format("2024-01-01", "2024-01-15", 2)) == 1


def test_case_mix_covariates_equal_an_independent_computation(built: Built) -> None:
    """Benefit weeks in the 52 whole weeks before the week of s, and age in whole years."""
    reference = Reference(built.settings, built.summary.as_of)
    births = newest(built.settings, "referrals").set_index("referral_id").birth_date.dt.date
    fct = query(
        built.settings, "select referral_id, benefit_weeks_52, age_at_start from fct_referral_outcomes"
    )
    actual = fct.set_index("referral_id")
    for r in reference.referrals:
        monday = r["s"] - dt.timedelta(days=r["s"].weekday())
        weeks = [monday - dt.timedelta(days=7 * k) for k in range(1, 53)]
        expected_weeks = sum((r["person_key"], w) in reference.benefit_weeks for w in weeks)
        born = births[r["referral_id"]]
        expected_age = r["s"].year - born.year - ((r["s"].month, r["s"].day) < (born.month, born.day))
        row = actual.loc[r["referral_id"]]
        assert (row.benefit_weeks_52, row.age_at_start) == (expected_weeks, expected_age), r["referral_id"]
