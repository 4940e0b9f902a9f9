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
    job = around["offset"].where(around["offset"].between(0, last)).groupby(around["referral_id"]).min()
    out["job_offset"] = job.reindex(out.index)
    window_end = month_end(out["start_month"] + last)
    mature = window_end <= as_of
    out["any_paid_hours_6m"] = flag(only_when(mature, out["job_offset"].notna()))
    out["paid_hours_baseline"] = out["baseline"] / p.paid_hours_baseline_months
    followup = out["followup"] / p.paid_hours_followup_months
    out["paid_hours_followup"] = only_when(mature, followup)
    out["paid_hours_progression"] = only_when(mature, followup - out["paid_hours_baseline"])
    out["progressed"] = flag(only_when(mature, out["paid_hours_progression"] >= p.progression_min_hours))
    job_month = out["start_month"] + out["job_offset"]
    out["job_start_month"] = month_start(job_month)
    worked = around[["referral_id", "paid_month"]]
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


def case_mix(x: Extracts, p: Params) -> pd.DataFrame:
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
    out["prior_referrals"] = prior_referrals(x).reindex(refs.index, fill_value=0).astype("Int64")
    out["purpose"] = refs["purpose"]
    quarter_month = (start.dt.month - 1) // 3 * 3
    out["start_quarter"] = month_start(start.dt.year * 12 + quarter_month)
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


def prior_referrals(x: Extracts) -> pd.Series:
    """The person's delivered referrals that started before this one (any agreement)."""
    refs = x.in_scope[["referral_id", PERSON, "start_date"]]
    others = x.referrals[[PERSON, "start_date"]].rename(columns={"start_date": "other_start"})
    pairs = refs.merge(others, on=PERSON)
    return pairs[pairs["other_start"] < pairs["start_date"]].groupby("referral_id").size()


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
    log.info("measuring paid hours")
    paid = paid_hours_measures(x, as_of, p)
    parts = [ids, paid]
    for name, measured in (
        ("self-support", lambda: self_support_measures(x, paid["job_start_month"], as_of, p)),
        ("sickness", lambda: sickness_measures(x, as_of, p)),
        ("rehabilitation", lambda: rehab_measures(x, as_of, p)),
        ("results", lambda: result_measures(x, as_of, p)),
        ("cost", lambda: cost_measures(x, as_of)),
        ("attendance", lambda: attendance_measures(x, p)),
        ("case mix", lambda: case_mix(x, p)),
    ):
        log.info("measuring %s", name)
        parts.append(measured())
    return pd.concat(parts, axis=1)


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
