"""The plain alternative: fct_referral_outcomes computed with pandas straight from the raw
extracts, the script an analyst would otherwise write.

    python bench/pandas_outcomes.py --raw-dir bench/cache/city/raw [--as-of 2024-12-31]

It answers "would a plain script be just as good?" twice: the benchmark times it against the
pipeline's build at city and national scale, and tests/integration/test_bench_pandas.py checks
that it gives the same per-referral flags as the dbt models on the small data set. It follows
docs/measures.md line by line, reads every delivery with pandas (pandas_read.py), uses
the CPR as the person id in memory, and writes nothing: the summary it prints has counts only."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict

if __package__ in (None, ""):  # run as a script: make `bench` and `pipeline` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pandas_read import PERSON, read_all

log = logging.getLogger(__name__)
PARAMS_FILE = Path(__file__).with_name("pandas_outcomes.yaml")
DAY = pd.Timedelta(days=1)


class Params(BaseModel):
    """The parameters of metrics.md (pandas_outcomes.yaml), validated on load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: dt.date | None = None
    paid_hours_window_months: int
    paid_hours_baseline_months: int
    paid_hours_followup_months: int
    progression_min_hours: float
    sum_decimals: int
    sustain_months: list[int]
    self_supporting_weeks: int
    self_supporting_min_weeks: int
    not_a_benefit: list[str]
    benefit_history_weeks: int
    fit_window_days: int
    fit_end_reasons: list[str]
    fully_fit_end_reasons: list[str]
    rehab_window_days: int
    rehab_grant_outcomes: list[str]
    result_grace_days: int
    rebooking_max_gap_days: int
    aftercare_offers: list[str]
    retention_months: int
    purpose_result_types: dict[str, list[str]]
    purposes_achieved_by_fit: list[str]
    stable_attendance_min_weeks: int
    stable_attendance_week_share: float
    stable_attendance_min_rate: float


def load_params(path: Path = PARAMS_FILE, **overrides: object) -> Params:
    return Params.model_validate({**yaml.safe_load(path.read_text(encoding="utf-8")), **overrides})


# --- calendar helpers: months as integers (year * 12 + month - 1) ----------------------------


def month_number(dates: pd.Series) -> pd.Series:
    return dates.dt.year * 12 + dates.dt.month - 1


def month_start(number: pd.Series) -> pd.Series:
    parts = pd.DataFrame({"year": number // 12, "month": number % 12 + 1, "day": 1})
    return pd.to_datetime(parts, errors="coerce").astype("datetime64[us]")


def month_end(number: pd.Series) -> pd.Series:
    return month_start(number + 1) - DAY


def monday_on_or_before(dates: pd.Series) -> pd.Series:
    return dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")


def only_when(mature: pd.Series, values: pd.Series) -> pd.Series:
    """A measure is NULL until its window has ended (metrics.md: immature is NULL, not FALSE)."""
    return values.where(mature.to_numpy(dtype=bool))


def flag(values: pd.Series) -> pd.Series:
    return values.astype("boolean")


@dataclass
class Extracts:
    """The extracts as known at as_of, newest delivery per key, bad rows left out."""

    referrals: pd.DataFrame  # every delivered referral (prior_referrals counts them all)
    in_scope: pd.DataFrame  # started by as_of, agreement and provider known, censored at as_of
    paid_hours: pd.DataFrame
    benefit_weeks: pd.DataFrame
    sickness_cases: pd.DataFrame
    rehab_decisions: pd.DataFrame
    referral_results: pd.DataFrame
    attendance: pd.DataFrame


def default_as_of(raw: dict[str, pd.DataFrame]) -> dt.date:
    """The last day of the month before the newest referrals delivery."""
    newest = raw["referrals"]["_delivery_date"].max()
    return (newest.replace(day=1) - DAY).date()


def as_known_at(raw: dict[str, pd.DataFrame], as_of: pd.Timestamp, p: Params) -> Extracts:
    """Everything dated after as_of does not exist yet: a later end date means ongoing, a later
    result, decision, case end, paid month or benefit week is not known."""
    referrals = raw["referrals"]
    agreements = raw["agreements"][["agreement_id", "provider_id", "tender_area", "offer_code",
                                    "price_model", "price_dkk"]]  # fmt: skip
    providers = raw["providers"][["provider_id", "provider_name"]]
    scope = referrals[referrals["start_date"] <= as_of]
    if "previous_referral_id" not in scope:  # an optional column of the contract
        scope = scope.assign(previous_referral_id=pd.Series(pd.NA, index=scope.index, dtype="object"))
    scope = scope.merge(agreements, on="agreement_id").merge(providers, on="provider_id")
    ended = scope["end_date"] <= as_of
    scope = scope.assign(end_date=scope["end_date"].where(ended), end_reason=scope["end_reason"].where(ended))
    paid = raw["paid_hours"]
    paid = paid[(month_end(month_number(paid["month"])) <= as_of) & (paid["hours"] > 0)]
    weeks = raw["benefit_weeks"]
    weeks = weeks[(weeks["week_start"] + 6 * DAY <= as_of) & ~weeks["benefit"].isin(p.not_a_benefit)]
    cases = raw["sickness_cases"]
    cases = cases[cases["first_sick_day"] <= as_of]
    case_ended = cases["case_end_date"] <= as_of
    cases = cases.assign(
        case_end_date=cases["case_end_date"].where(case_ended),
        end_reason=cases["end_reason"].where(case_ended),
    )
    decisions = raw["rehab_decisions"]
    results = raw["referral_results"]
    attendance = raw["attendance"]
    return Extracts(
        referrals=referrals,
        in_scope=scope.reset_index(drop=True),
        paid_hours=paid,
        benefit_weeks=weeks,
        sickness_cases=cases,
        rehab_decisions=decisions[decisions["decision_date"] <= as_of],
        referral_results=results[results["result_date"] <= as_of],
        attendance=attendance[attendance["week_start"] <= as_of],
    )


# --- the measures of metrics.md ----------------------------------------------------------------


def paid_hours_measures(x: Extracts, as_of: pd.Timestamp, p: Params) -> pd.DataFrame:
    """any_paid_hours_6m, baseline, follow-up, progression, progressed, job_start_month,
    sustained_Xm: from the person's paid months counted from the start month M(s)."""
    refs = x.in_scope[["referral_id", PERSON, "start_date"]].copy()
    refs["start_month"] = month_number(refs["start_date"])
    months = x.paid_hours.assign(paid_month=month_number(x.paid_hours["month"]))
    around = refs.merge(months[[PERSON, "paid_month", "hours"]], on=PERSON)
    around["offset"] = around["paid_month"] - around["start_month"]
    last = p.paid_hours_window_months - 1
    around = around[around["offset"].between(-p.paid_hours_baseline_months, last + max(p.sustain_months))]

    def hours_in(first: int, final: int) -> pd.Series:
        inside = around["offset"].between(first, final)
        return around["hours"].where(inside, 0.0).groupby(around["referral_id"]).sum().round(p.sum_decimals)

    out = refs.set_index("referral_id")
    out["baseline"] = hours_in(-p.paid_hours_baseline_months, -1).reindex(out.index, fill_value=0.0)
    out["followup"] = hours_in(last - p.paid_hours_followup_months + 1, last).reindex(
        out.index, fill_value=0.0
    )
    out["paid_hours_baseline"] = out["baseline"] / p.paid_hours_baseline_months
    in_window = around["offset"].between(0, last)
    paid_in_window = pd.Series(out.index.isin(around.loc[in_window, "referral_id"]), index=out.index)
    # a new job: hours at least the baseline + progression_min_hours (not a småjob held before)
    level = around["referral_id"].map(out["paid_hours_baseline"]) + p.progression_min_hours
    job = around["offset"].where(in_window & (around["hours"] >= level)).groupby(around["referral_id"]).min()
    out["job_offset"] = job.reindex(out.index)
    window_end = month_end(out["start_month"] + last)
    mature = window_end <= as_of
    out["any_paid_hours_6m"] = flag(only_when(mature, paid_in_window))
    followup = out["followup"] / p.paid_hours_followup_months
    out["paid_hours_followup"] = only_when(mature, followup)
    out["paid_hours_progression"] = only_when(mature, followup - out["paid_hours_baseline"])
    out["progressed"] = flag(only_when(mature, out["paid_hours_progression"] >= p.progression_min_hours))
    job_month = out["start_month"] + out["job_offset"]
    out["job_start_month"] = month_start(job_month)
    # still working above the level before the course
    worked = around.loc[around["hours"] > around["referral_id"].map(out["paid_hours_baseline"]),
                        ["referral_id", "paid_month"]]  # fmt: skip
    for months_after in p.sustain_months:
        later = (job_month + months_after).dropna().astype("int64")
        target = pd.DataFrame({"referral_id": later.index, "paid_month": later.to_numpy()})
        in_work = pd.Series(out.index.isin(target.merge(worked)["referral_id"]), index=out.index)
        mature_x = out["job_offset"].notna() & (month_end(job_month + months_after) <= as_of)
        out[f"sustained_{months_after}m"] = flag(only_when(mature_x, in_work))
    keep = ["any_paid_hours_6m", "paid_hours_baseline", "paid_hours_followup", "paid_hours_progression",
            "progressed", "job_start_month", *(f"sustained_{m}m" for m in p.sustain_months)]  # fmt: skip
    return out[keep]


def self_support_measures(x: Extracts, job_start: pd.Series, as_of: pd.Timestamp, p: Params) -> pd.DataFrame:
    """self_supporting_Xm: of the first four Mondays on or after the 1st of month J + X, at least
    three weeks without a benefit row (student grant is no benefit)."""
    with_job = job_start.dropna()
    persons = x.in_scope.set_index("referral_id")[PERSON].loc[with_job.index]
    out = pd.DataFrame(index=job_start.index)
    for months_after in p.sustain_months:
        first_day = month_start(month_number(with_job) + months_after)
        first_monday = first_day + pd.to_timedelta((7 - first_day.dt.day_of_week) % 7, unit="D")
        on_benefit = weeks_on_benefit(x, persons, first_monday, p.self_supporting_weeks)
        free = p.self_supporting_weeks - on_benefit >= p.self_supporting_min_weeks
        window_end = first_monday + (7 * p.self_supporting_weeks - 1) * DAY
        out[f"self_supporting_{months_after}m"] = flag(only_when(window_end <= as_of, free))
    return out


def weeks_on_benefit(x: Extracts, persons: pd.Series, first_monday: pd.Series, n_weeks: int) -> pd.Series:
    """Per referral, how many of the n weeks from first_monday have a benefit row."""
    weeks = pd.concat(
        pd.DataFrame(
            {
                "referral_id": persons.index,
                PERSON: persons.to_numpy(),
                "week_start": (first_monday + 7 * k * DAY).to_numpy(),
            }
        )
        for k in range(n_weeks)
    )
    found = weeks.merge(x.benefit_weeks[[PERSON, "week_start"]], on=[PERSON, "week_start"])
    return found.groupby("referral_id").size().reindex(persons.index, fill_value=0)


def sickness_measures(x: Extracts, as_of: pd.Timestamp, p: Params) -> pd.DataFrame:
    """fit_within_6m and fully_fit_within_6m among the referrals with a sickness case open on
    the start day."""
    refs = x.in_scope[["referral_id", PERSON, "start_date"]]
    cases = refs.merge(x.sickness_cases[[PERSON, "first_sick_day", "case_end_date", "end_reason"]], on=PERSON)
    open_at_start = (cases["first_sick_day"] <= cases["start_date"]) & (
        cases["case_end_date"].isna() | (cases["case_end_date"] >= cases["start_date"])
    )
    cases = cases[open_at_start]
    in_window = cases["case_end_date"] <= cases["start_date"] + p.fit_window_days * DAY
    out = refs.set_index("referral_id")[["start_date"]]
    out["sick_listed_at_start"] = out.index.isin(cases["referral_id"])
    mature = out["start_date"] + p.fit_window_days * DAY <= as_of
    population = mature & out["sick_listed_at_start"]
    for column, reasons in (
        ("fit_within_6m", p.fit_end_reasons),
        ("fully_fit_within_6m", p.fully_fit_end_reasons),
    ):
        fit = cases.loc[in_window & cases["end_reason"].isin(reasons), "referral_id"]
        out[column] = flag(only_when(population, pd.Series(out.index.isin(fit), index=out.index)))
    out["sick_listed_at_start"] = flag(out["sick_listed_at_start"])
    return out.drop(columns="start_date")


def rehab_measures(x: Extracts, as_of: pd.Timestamp, p: Params) -> pd.DataFrame:
    """A rehabilitation-team grant decided in [s, s + 365 days], and the first grant's type."""
    refs = x.in_scope[["referral_id", PERSON, "start_date"]]
    grants = x.rehab_decisions[x.rehab_decisions["outcome"].isin(p.rehab_grant_outcomes)]
    matched = refs.merge(grants[[PERSON, "decision_id", "decision_date", "outcome"]], on=PERSON)
    window_end = matched["start_date"] + p.rehab_window_days * DAY
    matched = matched[matched["decision_date"].between(matched["start_date"], window_end)]
    first = matched.sort_values(["decision_date", "decision_id"]).drop_duplicates("referral_id")
    out = refs.set_index("referral_id")[["start_date"]]
    mature = out["start_date"] + p.rehab_window_days * DAY <= as_of
    granted = pd.Series(out.index.isin(first["referral_id"]), index=out.index)
    out["rehab_grant_within_12m"] = flag(only_when(mature, granted))
    out["rehab_grant_type"] = only_when(mature, first.set_index("referral_id")["outcome"].reindex(out.index))
    return out.drop(columns="start_date")


def result_measures(x: Extracts, as_of: pd.Timestamp, p: Params) -> pd.DataFrame:
    """has_result (a result from s up to min(as_of, e + grace)), is_closed, result_type_first."""
    refs = x.in_scope[["referral_id", "start_date", "end_date"]]
    matched = refs.merge(x.referral_results[["referral_id", "result_date", "result_type"]], on="referral_id")
    grace_end = matched["end_date"] + p.result_grace_days * DAY
    counted = (matched["result_date"] >= matched["start_date"]) & (
        matched["end_date"].isna() | (matched["result_date"] <= grace_end)
    )
    first = matched[counted].sort_values(["result_date", "result_type"]).drop_duplicates("referral_id")
    out = refs.set_index("referral_id")
    out["has_result"] = flag(pd.Series(out.index.isin(first["referral_id"]), index=out.index))
    out["is_closed"] = flag((out["end_date"] + p.result_grace_days * DAY <= as_of).fillna(False))
    out["result_type_first"] = first.set_index("referral_id")["result_type"].reindex(out.index)
    return out[["has_result", "is_closed", "result_type_first"]]


def cost_measures(x: Extracts, as_of: pd.Timestamp) -> pd.DataFrame:
    """course_days = min(e, as_of) - s + 1; a week price per started week, a day price per day."""
    refs = x.in_scope.set_index("referral_id")
    days = (refs["end_date"].fillna(as_of) - refs["start_date"]).dt.days + 1
    weeks = np.ceil(days / 7)
    cost = np.where(refs["price_model"] == "week", refs["price_dkk"] * weeks, refs["price_dkk"] * days)
    return pd.DataFrame({"course_days": days.astype("Int64"), "cost_dkk": cost}, index=refs.index)


def attendance_measures(x: Extracts, p: Params) -> pd.DataFrame:
    """Attended over planned hours in the weeks reported up to as_of."""
    sums = (
        x.attendance.groupby("referral_id")[["planned_hours", "attended_hours"]].sum().round(p.sum_decimals)
    )
    rate = sums["attended_hours"] / sums["planned_hours"].where(sums["planned_hours"] != 0)
    return pd.DataFrame({"attendance_rate": rate.reindex(x.in_scope["referral_id"])})


def case_mix(x: Extracts, p: Params, later_links: pd.Index) -> pd.DataFrame:
    """The covariates of the risk model known on the start day, beside paid_hours_baseline,
    tender_area and offer_code (computed with the paid hours and the referral)."""
    refs = x.in_scope.set_index("referral_id")
    start, born = refs["start_date"], refs["birth_date"]
    before_birthday = (start.dt.month * 100 + start.dt.day) < (born.dt.month * 100 + born.dt.day)
    out = pd.DataFrame(index=refs.index)
    out["age_at_start"] = (start.dt.year - born.dt.year - before_birthday.astype(int)).astype("Int64")
    out["sex"] = refs["sex"]
    out["benefit_at_start"] = refs["benefit_at_start"]
    out["benefit_weeks_52"] = benefit_history(x, p).reindex(refs.index, fill_value=0).astype("Int64")
    out["prior_referrals"] = prior_referrals(x, later_links).reindex(refs.index, fill_value=0).astype("Int64")
    out["purpose"] = refs["purpose"]
    out["start_quarter"] = ((start.dt.month - 1) // 3 + 1).astype("Int64")  # quarter of the year
    return out


def benefit_history(x: Extracts, p: Params) -> pd.Series:
    """Weeks on a benefit among the 52 whole weeks before the start (a week that contains the
    start day is not before it)."""
    refs = x.in_scope[["referral_id", PERSON, "start_date"]]
    weeks = refs.merge(x.benefit_weeks[[PERSON, "week_start"]], on=PERSON)
    latest = monday_on_or_before(weeks["start_date"]) - 7 * DAY
    earliest = latest - 7 * (p.benefit_history_weeks - 1) * DAY
    inside = weeks["week_start"].between(earliest, latest)
    return weeks[inside].groupby("referral_id").size()


def prior_referrals(x: Extracts, later_links: pd.Index) -> pd.Series:
    """The person's delivered courses that started before this one (any agreement): every
    delivered referral but the later links of a rebooking chain."""
    refs = x.in_scope[["referral_id", PERSON, "start_date"]]
    courses = x.referrals[~x.referrals["referral_id"].isin(later_links)]
    others = courses[[PERSON, "start_date"]].rename(columns={"start_date": "other_start"})
    pairs = refs.merge(others, on=PERSON)
    return pairs[pairs["other_start"] < pairs["start_date"]].groupby("referral_id").size()


# --- courses: rebooked referrals chained (metrics.md "Course chains") ---------------------------


def course_links(scope: pd.DataFrame, p: Params) -> pd.Series:
    """predecessor by successor referral_id: the referral a continuation names, when that one
    ended rebooked before it; else, for a rebooked referral no one names, the person's next
    referral to the same provider and tender area starting 0..rebooking_max_gap_days days
    after its end (one that names no predecessor itself)."""
    rebooked = scope[scope["end_reason"] == "rebooked"]
    named = scope[["referral_id", "previous_referral_id", "start_date"]].merge(
        rebooked[["referral_id", "start_date"]].rename(columns={"referral_id": "previous_referral_id",
                                                                "start_date": "previous_start"}),
        on="previous_referral_id",
    )  # fmt: skip
    named = named[_after(named, "previous_start", "previous_referral_id")]
    named = named.sort_values("referral_id").drop_duplicates("previous_referral_id")
    keys = [PERSON, "provider_id", "tender_area"]
    open_ends = rebooked[~rebooked["referral_id"].isin(named["previous_referral_id"])]
    pairs = open_ends[[*keys, "referral_id", "start_date", "end_date"]].merge(
        scope.loc[scope["previous_referral_id"].isna(), [*keys, "referral_id", "start_date"]],
        on=keys,
        suffixes=("_before", ""),
    )
    gap = (pairs["start_date"] - pairs["end_date"]).dt.days
    other = pairs["referral_id"] != pairs["referral_id_before"]
    pairs = pairs[gap.between(0, p.rebooking_max_gap_days) & other].rename(
        columns={"referral_id_before": "previous_referral_id", "start_date_before": "previous_start"}
    )
    pairs = pairs[_after(pairs, "previous_start", "previous_referral_id")]
    first = pairs.sort_values(["start_date", "referral_id"]).drop_duplicates("previous_referral_id")
    latest_end = first.sort_values(["end_date", "previous_referral_id"], ascending=False)
    inferred = latest_end.drop_duplicates("referral_id")
    links = pd.concat([named[["referral_id", "previous_referral_id"]],
                       inferred[["referral_id", "previous_referral_id"]]])  # fmt: skip
    return links.set_index("referral_id")["previous_referral_id"]


def _after(pairs: pd.DataFrame, previous_start: str, previous_id: str) -> pd.Series:
    """The continuation comes after its predecessor in (start_date, referral_id): no loops."""
    return (pairs[previous_start] < pairs["start_date"]) | (
        (pairs[previous_start] == pairs["start_date"]) & (pairs[previous_id] < pairs["referral_id"])
    )


def course_chains(scope: pd.DataFrame, p: Params) -> pd.DataFrame:
    """Per referral in scope: course_id (the first link), link_number and last_referral_id."""
    previous = course_links(scope, p).to_dict()
    following = {before: after for after, before in previous.items()}
    rows = []
    for referral in scope["referral_id"]:
        first, number = referral, 1
        while first in previous:
            first, number = previous[first], number + 1
        last = referral
        while last in following:
            last = following[last]
        rows.append((referral, first, number, last))
    columns = ["referral_id", "course_id", "link_number", "last_referral_id"]
    return pd.DataFrame(rows, columns=columns).set_index("referral_id")


def as_courses(x: Extracts, chains: pd.DataFrame) -> Extracts:
    """The extracts with one in-scope row per course, on its last link: start, start month and
    benefit at start of the first link, the rest of the last; results and attendance of every
    link moved to the last link."""
    scope = x.in_scope.set_index("referral_id")
    last = chains["last_referral_id"]
    courses = scope.loc[last[last.index == last.to_numpy()].index].copy()
    first = scope.loc[chains.loc[courses.index, "course_id"]]
    courses["start_date"] = first["start_date"].to_numpy()
    courses["benefit_at_start"] = first["benefit_at_start"].to_numpy()
    results = x.referral_results[x.referral_results["referral_id"].isin(last.index)]
    attendance = x.attendance[x.attendance["referral_id"].isin(last.index)]
    return Extracts(
        referrals=x.referrals,
        in_scope=courses.reset_index(),
        paid_hours=x.paid_hours,
        benefit_weeks=x.benefit_weeks,
        sickness_cases=x.sickness_cases,
        rehab_decisions=x.rehab_decisions,
        referral_results=results.assign(referral_id=results["referral_id"].map(last)),
        attendance=attendance.assign(referral_id=attendance["referral_id"].map(last)),
    )


def is_aftercare(frame: pd.DataFrame, p: Params) -> pd.Series:
    return frame["offer_code"].str.lower().isin([o.lower() for o in p.aftercare_offers])


def purpose_measures(x: Extracts, as_of: pd.Timestamp, p: Params) -> pd.DataFrame:
    """purpose_achieved: a closed course, not efterværn, with a counted result of a type its
    purpose accepts; for return_to_work also a sickness case ending fit in [s, e + grace]."""
    refs = x.in_scope.set_index("referral_id")
    grace_end = refs["end_date"] + p.result_grace_days * DAY
    population = (grace_end <= as_of).fillna(False) & ~is_aftercare(refs, p)
    accepted = pd.DataFrame(
        [(purpose, kind) for purpose, kinds in p.purpose_result_types.items() for kind in kinds],
        columns=["purpose", "result_type"],
    )
    windows = refs.assign(grace_end=grace_end)[["purpose", PERSON, "start_date", "grace_end"]].reset_index()
    results = windows.merge(x.referral_results, on="referral_id")
    results = results.merge(accepted, on=["purpose", "result_type"])
    by_result = results[results["result_date"].between(results["start_date"], results["grace_end"])]
    cases = windows[windows["purpose"].isin(p.purposes_achieved_by_fit)].merge(x.sickness_cases, on=PERSON)
    by_fit = cases[cases["end_reason"].isin(p.fit_end_reasons)
                   & cases["case_end_date"].between(cases["start_date"], cases["grace_end"])]  # fmt: skip
    achieved = refs.index.isin(by_result["referral_id"]) | refs.index.isin(by_fit["referral_id"])
    achieved = pd.Series(achieved, index=refs.index)
    return pd.DataFrame({"purpose_achieved": flag(only_when(population, achieved))})


def retention_measures(x: Extracts, as_of: pd.Timestamp, p: Params) -> pd.DataFrame:
    """retained_6m (efterværn only): paid hours in M(s) + 6, or self-supporting in at least
    three of the four weeks from the first Monday on or after its 1st."""
    refs = x.in_scope.set_index("referral_id")
    aftercare = refs[is_aftercare(refs, p)]
    month = month_number(aftercare["start_date"]) + p.retention_months
    first_day = month_start(month)
    first_monday = first_day + pd.to_timedelta((7 - first_day.dt.day_of_week) % 7, unit="D")
    paid = x.paid_hours.assign(paid_month=month_number(x.paid_hours["month"]))
    wanted = pd.DataFrame({"referral_id": aftercare.index, PERSON: aftercare[PERSON].to_numpy(),
                           "paid_month": month.to_numpy()})  # fmt: skip
    worked = aftercare.index.isin(wanted.merge(paid[[PERSON, "paid_month"]])["referral_id"])
    on_benefit = weeks_on_benefit(x, aftercare[PERSON], first_monday, p.self_supporting_weeks)
    free = p.self_supporting_weeks - on_benefit >= p.self_supporting_min_weeks
    window_end = np.maximum(month_end(month), first_monday + (7 * p.self_supporting_weeks - 1) * DAY)
    retained = pd.Series(worked, index=aftercare.index) | free
    out = pd.DataFrame(index=refs.index)
    out["retained_6m"] = flag(only_when(window_end <= as_of, retained)).reindex(refs.index)
    return out


def stable_attendance(x: Extracts, p: Params) -> pd.DataFrame:
    """stable_attendance: with at least 8 weeks, attended >= 0.75 x planned in >= 0.8 of them
    (a week on two links of a course counts once, its hours summed)."""
    weeks = x.attendance.groupby(["referral_id", "week_start"])[["planned_hours", "attended_hours"]].sum()
    weeks = weeks.round(p.sum_decimals)
    good = weeks["attended_hours"] >= p.stable_attendance_min_rate * weeks["planned_hours"]
    counts = good.groupby(level="referral_id").agg(["size", "sum"])
    stable = counts["sum"] >= np.round(p.stable_attendance_week_share * counts["size"], 9)
    stable = only_when(counts["size"] >= p.stable_attendance_min_weeks, stable)
    return pd.DataFrame({"stable_attendance": flag(stable.reindex(x.in_scope["referral_id"]))})


def referral_outcomes(raw_dir: Path, params: Params | None = None) -> pd.DataFrame:
    """One row per referral in scope at as_of, indexed by referral_id, with the columns of
    fct_referral_outcomes that metrics.md defines (person_key aside: this script has the CPR)."""
    p = params or load_params()
    raw = read_all(raw_dir, person_details_of=("referrals",))
    as_of = pd.Timestamp(p.as_of or default_as_of(raw))
    x = as_known_at(raw, as_of, p)
    del raw
    refs = x.in_scope.set_index("referral_id")
    ids = refs[["provider_id", "provider_name", "tender_area", "offer_code", "start_date", "end_date",
                "end_reason"]].copy()  # fmt: skip
    ids["is_ended"] = flag(ids["end_date"].notna())
    ids["cohort_month"] = month_start(month_number(ids["start_date"]))
    ids["as_of"] = as_of
    log.info("chaining rebooked referrals to courses")
    chains = course_chains(x.in_scope, p)
    ids["course_id"] = chains["course_id"]
    ids["is_aftercare"] = flag(is_aftercare(refs, p))
    # every measure once per course, on its last link (s = first start, e = last end)
    courses = as_courses(x, chains)
    later_links = chains.index[chains["link_number"] > 1]
    ids["is_course_ended"] = course_ended(ids, chains, as_of, p)
    log.info("measuring paid hours")
    paid = paid_hours_measures(courses, as_of, p)
    parts = [paid]
    for name, measured in (
        ("self-support", lambda: self_support_measures(courses, paid["job_start_month"], as_of, p)),
        ("sickness", lambda: sickness_measures(courses, as_of, p)),
        ("rehabilitation", lambda: rehab_measures(courses, as_of, p)),
        ("results", lambda: without_aftercare(result_measures(courses, as_of, p), courses, p)),
        ("cost", lambda: cost_measures(x, as_of).groupby(chains["last_referral_id"]).sum()),
        ("attendance", lambda: attendance_measures(courses, p)),
        ("stable attendance", lambda: stable_attendance(courses, p)),
        ("purpose", lambda: purpose_measures(courses, as_of, p)),
        ("retention", lambda: retention_measures(courses, as_of, p)),
        ("case mix", lambda: case_mix(courses, p, later_links)),
    ):
        log.info("measuring %s", name)
        parts.append(measured())
    return pd.concat([ids, pd.concat(parts, axis=1).reindex(ids.index)], axis=1)


def course_ended(ids: pd.DataFrame, chains: pd.DataFrame, as_of: pd.Timestamp, p: Params) -> pd.Series:
    """On a course's last link: ended, unless it ended rebooked so recently that its
    continuation can still start (as_of < e + rebooking_max_gap_days); NULL on earlier links."""
    awaiting = (ids["end_reason"] == "rebooked") & (as_of < ids["end_date"] + p.rebooking_max_gap_days * DAY)
    ended = ids["end_date"].notna() & ~awaiting.fillna(False)
    return flag(ended).where(chains["last_referral_id"].reindex(ids.index) == ids.index)


def without_aftercare(results: pd.DataFrame, x: Extracts, p: Params) -> pd.DataFrame:
    """has_result and the first result type are NULL for efterværn (outside the population)."""
    aftercare = is_aftercare(x.in_scope.set_index("referral_id"), p).reindex(results.index).to_numpy()
    return results.assign(
        has_result=results["has_result"].mask(aftercare),
        result_type_first=results["result_type_first"].mask(aftercare),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, required=True, help="folder of raw deliveries")
    parser.add_argument(
        "--as-of", type=dt.date.fromisoformat, help="YYYY-MM-DD (default from the deliveries)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    started = time.perf_counter()
    outcomes = referral_outcomes(args.raw_dir, load_params(as_of=args.as_of))
    flags = outcomes.select_dtypes("boolean")
    print(
        f"pandas: {len(outcomes):,} referrals as of {outcomes['as_of'].iloc[0]:%Y-%m-%d}; "
        f"{int(flags.notna().sum().sum()):,} mature flags, {int(flags.sum().sum()):,} true; "
        f"{time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
