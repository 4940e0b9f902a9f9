"""Citizens: valid, unique fictitious CPR numbers (checked with pipeline.cpr), ages, schedules."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import cpr
from pipeline.generate.config import load_world
from pipeline.generate.population import make_cohort
from pipeline.generate.timeline import Timeline, age_in_years, date_of, month_number

WORLD = load_world()
TIMELINE = Timeline(month_number("2020-01"), 60, 5, 56, 20)


def cohort(chunk: int, n: int = 20_000, world=WORLD, seed: int = 1, n_chunks_max: int = 40):
    return make_cohort(world, TIMELINE, np.random.default_rng([seed, chunk]), n, 10**9, chunk, n_chunks_max)


def test_cpr_numbers_are_valid_and_match_birth_date_and_sex() -> None:
    c = cohort(0)
    for number, born, male in zip(c.cpr, c.birth, c.male, strict=True):
        info = cpr.parse(number)
        assert info is not None, cpr.mask(number)
        assert info.birth_date == date_of(born) and (info.sex == "M") == male
    assert len(set(c.cpr)) == c.n_persons
    assert 0.4 < c.male.mean() < 0.6


def test_chunks_never_share_a_cpr_number_even_with_the_same_draws() -> None:
    """Same random draws (hence the same birthdays) in two chunks: the serial ranges differ."""
    first = cohort(0, seed=7)
    second = make_cohort(WORLD, TIMELINE, np.random.default_rng([7, 0]), 20_000, 10**9, 1, 40)
    assert (first.birth == second.birth).mean() > 0.99
    assert not set(first.cpr) & set(second.cpr)


def test_replacement_numbers_are_valid_too() -> None:
    world = WORLD.model_copy(
        update={"citizens": WORLD.citizens.model_copy(update={"replacement_cpr_share": 1.0})}
    )
    c = cohort(0, n=2_000, world=world)
    days = np.array([int(n[:2]) for n in c.cpr])
    assert (days >= 61).all() and (days <= 91).all()
    assert all(cpr.parse(n).birth_date == date_of(b) for n, b in zip(c.cpr, c.birth, strict=True))


def test_every_start_is_in_the_period_at_age_30_to_64_but_a_few_younger() -> None:
    c = cohort(0)
    ages = age_in_years(c.birth[c.person], c.start)
    young_share, (youngest, _) = WORLD.citizens.under_30_share, WORLD.citizens.under_30_age
    assert ages.min() >= youngest and ages.max() <= WORLD.citizens.max_age_at_start
    first = ages[np.r_[True, np.diff(c.person) != 0]]  # each citizen's first start
    assert 0 < (first < 30).mean() < 3 * young_share
    assert c.start.min() >= TIMELINE.start_day and c.start.max() <= TIMELINE.end_day
    # starts move to a weekday (at most 6 days): a later course still starts long after the
    # previous one ended (26 weeks + an extension of 8 at most)
    gaps = np.diff(c.start)[np.diff(c.person) == 0]
    assert (gaps >= WORLD.citizens.days_between_starts[0] - 6).all() and (gaps > 7 * (26 + 8)).all()
    assert c.order[c.person == c.person[np.argmax(c.order)]].tolist() == list(range(c.order.max() + 1))
    assert (np.bincount(c.person) > 1).mean() > 0.1  # some citizens come back


@pytest.mark.parametrize("target", [1, 37, 500])
def test_a_chunk_stops_exactly_at_the_referrals_still_wanted(target: int) -> None:
    c = make_cohort(WORLD, TIMELINE, np.random.default_rng(3), 5_000, target, 0, 1)
    assert len(c.person) == target


LEAD_TIMELINE = Timeline(month_number("2020-01"), 60, 5, 56, 20, lead_weeks=WORLD.lead_weeks)


def test_the_lead_leaves_the_periods_citizens_and_referrals_as_they_were() -> None:
    """The lead's draws come after all of the period's: the same seed gives the same period."""
    plain = make_cohort(WORLD, TIMELINE, np.random.default_rng([4, 0]), 20_000, 10**9, 0, 40)
    led = make_cohort(WORLD, LEAD_TIMELINE, np.random.default_rng([4, 0]), 20_000, 10**9, 0, 40)
    for name in ("person", "order", "start", "area"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(led, name), err_msg=name)
    n = plain.n_persons
    np.testing.assert_array_equal(plain.cpr, led.cpr[:n])
    np.testing.assert_array_equal(plain.birth, led.birth[:n])
    assert len(plain.lead_person) == 0 and led.n_persons > n


def test_lead_referrals_start_after_the_period_as_densely_as_in_it() -> None:
    c = make_cohort(WORLD, LEAD_TIMELINE, np.random.default_rng([4, 0]), 20_000, 10**9, 0, 40)
    t = LEAD_TIMELINE
    assert t.horizon_day == t.end_day + 7 * WORLD.lead_weeks
    assert c.lead_start.min() > t.end_day and c.lead_start.max() <= t.horizon_day
    assert (np.diff(c.lead_person) >= 0).all()
    assert len(set(c.cpr)) == c.n_persons  # new citizens get serials of their own
    ages = age_in_years(c.birth[c.lead_person], c.lead_start)
    assert ages.max() <= WORLD.citizens.max_age_at_start
    # first starts a day, with the seasonality divided out: as many just after the period as in it
    new = ~np.isin(c.lead_person, c.person)
    first_lead = c.lead_start[new & np.r_[True, np.diff(c.lead_person) != 0]]
    seasonality = np.array(WORLD.calendar.seasonality)

    def per_day(starts: np.ndarray, lo: int, hi: int) -> float:
        """First starts per seasonally weighted day in [lo, hi)."""
        days = np.arange(lo, hi)
        weight = seasonality[(days.astype("datetime64[D]").astype("datetime64[M]").astype(int)) % 12].sum()
        return ((starts >= lo) & (starts < hi)).sum() / weight

    firsts = c.start[c.order == 0]
    inside = per_day(firsts, t.end_day + 1 - 365, t.end_day + 1)
    after = per_day(first_lead, t.end_day + 1, t.end_day + 1 + 365)
    assert after == pytest.approx(inside, rel=0.1)
