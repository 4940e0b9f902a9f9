"""The registers the generator writes carry exactly the outcomes it drew.

Measures are recomputed here with pandas from the rows as they would be delivered (after the
newest delivery supersedes older rows), following metrics.md's definitions, and compared with
the simulation's own draws. Citizens with one referral only are compared (a later referral of
the same person, also one starting after the period, may legitimately overwrite the follow-up of
an earlier one), and only measures that are mature at the as-of date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.generate.config import load_world
from pipeline.generate.extracts import IdCounters, Vocabs, chunk_rows
from pipeline.generate.market import build_market
from pipeline.generate.population import make_cohort
from pipeline.generate.rows import Labels, Rows
from pipeline.generate.simulate import simulate
from pipeline.generate.timeline import NULL, Timeline, month_number

GRANTS = {"flex_job", "disability_pension", "resource_course"}


def frame(rows: Rows) -> pd.DataFrame:
    data = {"_delivery": rows.delivery}
    for name, col in rows.columns.items():
        if isinstance(col, Labels):
            data[name] = col.texts()
        else:
            data[name] = col
    return pd.DataFrame(data)


def latest(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    known = df[df["_delivery"] >= 0]
    return known.sort_values("_delivery", kind="stable").drop_duplicates(key, keep="last")


def to_date(days: pd.Series) -> pd.Series:
    return pd.to_datetime(days.where(days != NULL).astype("float"), unit="D")


@pytest.fixture(scope="module")
def world_run():
    world = load_world()
    scale = world.scale("small")
    timeline = Timeline(
        month_number(scale.first_month),
        scale.months,
        world.calendar.delivery_day,
        world.calendar.history_weeks,
        world.calendar.follow_months,
        world.lead_weeks,
    )
    market = build_market(world, scale, timeline, np.random.default_rng([5, 0]))
    cohort = make_cohort(world, timeline, np.random.default_rng([5, 1, 0]), 6000, 6000, 0, 1)
    result = simulate(world, timeline, market, cohort, np.random.default_rng([5, 2, 0]))
    rows = {
        r.extract: frame(r)
        for r in chunk_rows(timeline, cohort, result, IdCounters(), Vocabs.of(world, market))
    }
    return world, timeline, cohort, result, rows


@pytest.fixture(scope="module")
def referrals(world_run) -> pd.DataFrame:
    """One row per referral of a single-referral citizen: its latest delivered state joined
    with the simulation's draws."""
    _, _, cohort, result, rows = world_run
    f = result.referrals
    draws = pd.DataFrame({k: v for k, v in f.items() if v.ndim == 1})
    ref = latest(rows["referrals"], ["referral_id"])
    ref = ref.assign(s=to_date(ref["start_date"]), e=to_date(ref["end_date"]))
    # match the delivered row to its draws through (cpr, start date): unique per citizen
    draws["cpr"] = cohort.cpr[draws["person"]]
    ref = ref.merge(draws, left_on=["cpr", "start_date"], right_on=["cpr", "start_date"], validate="1:1")
    single = ref.groupby("cpr")["referral_id"].transform("size") == 1
    # a referral after the period (the lead) may overwrite the follow-up in it, too
    counts = pd.Series(np.concatenate([cohort.person, cohort.lead_person])).value_counts()
    ref = ref[single & ref["person"].map(counts).eq(1)]
    assert len(ref) > 1000
    return ref


def as_of(world_run) -> pd.Timestamp:
    return pd.Timestamp(pd.to_datetime(world_run[1].end_day, unit="D"))


def test_paid_hours_measures_match_the_draws(world_run, referrals) -> None:
    hours = world_run[4]["paid_hours"]
    hours = hours.assign(month=pd.to_datetime(hours["month"].astype("int64").astype("datetime64[M]")))
    by_person = {cpr: dict(zip(g["month"], g["hours"], strict=True)) for cpr, g in hours.groupby("cpr")}
    cutoff = as_of(world_run)
    checked = {"any": 0, "sustained": 0}
    for r in referrals.itertuples():
        months = by_person.get(r.cpr, {})
        m0 = r.s.to_period("M")
        window = [(m0 + k).to_timestamp() for k in range(6)]
        if (m0 + 5).to_timestamp(how="end") > cutoff:
            continue
        any_hours = any(months.get(m, 0) > 0 for m in window)
        assert any_hours == r.job, r.referral_id
        baseline = sum(months.get((m0 - k).to_timestamp(), 0) for k in (1, 2, 3)) / 3
        assert baseline == pytest.approx(r.paid_hours_baseline, abs=1e-6)
        checked["any"] += 1
        if not any_hours:
            continue
        j = next(m for m in window if months.get(m, 0) > 0).to_period("M")
        for x in (3, 6, 12):
            if (j + x).to_timestamp(how="end") <= cutoff:
                assert (months.get((j + x).to_timestamp(), 0) > 0) == getattr(r, f"sustained_{x}"), (
                    r.referral_id
                )
                checked["sustained"] += 1
    assert checked["any"] > 500 and checked["sustained"] > 100


def test_registered_results_match_the_draws(world_run, referrals) -> None:
    results = world_run[4]["referral_results"]
    results = results[results["_delivery"] >= 0].assign(date=lambda d: to_date(d["result_date"]))
    grace = pd.Timedelta(days=world_run[0].outcomes.result_grace_days)
    cutoff = as_of(world_run)
    closed = referrals[referrals["e"].notna() & (referrals["e"] + grace <= cutoff)]
    merged = closed.merge(results[["referral_id", "date"]], on="referral_id", how="left")
    in_window = (merged["date"] >= merged["s"]) & (merged["date"] <= merged["e"] + grace)
    has = in_window.groupby(merged["referral_id"]).any()
    expected = closed.set_index("referral_id")["has_result"]
    assert len(expected) > 500
    pd.testing.assert_series_equal(has.sort_index(), expected.sort_index(), check_names=False)


def test_fit_within_6m_matches_the_draws(world_run, referrals) -> None:
    cases = latest(world_run[4]["sickness_cases"], ["case_id"])
    cases = cases.assign(first=to_date(cases["first_sick_day"]), end=to_date(cases["case_end_date"]))
    cutoff = as_of(world_run)
    mature = referrals[referrals["s"] + pd.Timedelta(days=182) <= cutoff]
    merged = mature.merge(cases[["cpr", "first", "end", "end_reason"]], on="cpr", how="left")
    open_at_start = (merged["first"] <= merged["s"]) & (merged["end"].isna() | (merged["end"] >= merged["s"]))
    fit = (
        open_at_start
        & merged["end_reason"].isin(["fit", "partially_fit"])
        & (merged["end"] <= merged["s"] + pd.Timedelta(days=182))
    )
    population = open_at_start.groupby(merged["referral_id"]).any()
    declared = fit.groupby(merged["referral_id"]).any()
    expected = mature.set_index("referral_id")
    assert population.sum() > 300
    pd.testing.assert_series_equal(
        population.sort_index(), expected["sick_open"].sort_index(), check_names=False
    )
    pd.testing.assert_series_equal(declared.sort_index(), expected["fit"].sort_index(), check_names=False)


def test_rehab_grants_within_12m_match_the_draws(world_run, referrals) -> None:
    decisions = world_run[4]["rehab_decisions"]
    decisions = decisions[decisions["_delivery"] >= 0].assign(day=lambda d: to_date(d["decision_date"]))
    cutoff = as_of(world_run)
    mature = referrals[referrals["s"] + pd.Timedelta(days=365) <= cutoff]
    merged = mature.merge(decisions[["cpr", "day", "outcome"]], on="cpr", how="left")
    grant = (
        merged["outcome"].isin(GRANTS)
        & (merged["day"] >= merged["s"])
        & (merged["day"] <= merged["s"] + pd.Timedelta(days=365))
    )
    has = grant.groupby(merged["referral_id"]).any()
    expected = mature.set_index("referral_id")["grant"]
    assert expected.sum() > 30
    pd.testing.assert_series_equal(has.sort_index(), expected.sort_index(), check_names=False)


def test_benefit_weeks_52_is_what_the_register_shows(world_run, referrals) -> None:
    weeks = world_run[4]["benefit_weeks"]
    weeks = weeks[weeks["benefit"] != "student_grant"].assign(monday=lambda d: to_date(d["week_start"]))
    by_person = weeks.groupby("cpr")["monday"].apply(set).to_dict()
    for r in referrals.head(300).itertuples():
        monday = r.s - pd.Timedelta(days=r.s.weekday())
        window = {monday - pd.Timedelta(weeks=k) for k in range(1, 53)}
        assert len(window & by_person.get(r.cpr, set())) == r.benefit_weeks_52, r.referral_id
