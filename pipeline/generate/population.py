"""Citizens of one chunk: birth, sex, a unique fictitious CPR number, and when each of their
referrals starts and in which tender area.

CPR numbers must be unique across the whole run although chunks are generated one at a time:
each chunk owns its own range of the serial digits (digits 7-9) on every birth date, so two
chunks can never make the same number, and no list of all numbers is ever held."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from pipeline import cpr as cpr_rules
from pipeline.generate.config import World
from pipeline.generate.timeline import Timeline, age_in_years, first_day, monday_of, month_length, weekday

SERIAL_SLOTS = 400  # digit 7 (4 choices consistent with the century) × digits 8-9


@dataclass
class Cohort:
    # every citizen of the chunk: those referred in the period, then those referred only in
    # the lead weeks after it (Timeline.lead_weeks)
    birth: np.ndarray  # day number
    male: np.ndarray  # bool
    cpr: np.ndarray  # object array of 10-digit texts
    # referrals, ordered by person and then by start
    person: np.ndarray
    order: np.ndarray  # 0 for the person's first referral in the data, 1 for the next …
    start: np.ndarray  # day number
    area: np.ndarray
    # referrals starting in the lead weeks after the period, ordered by person and start: never
    # delivered, simulated only for the history before them, which the registers deliver
    lead_person: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lead_start: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lead_area: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_persons(self) -> int:
        return len(self.birth)


def make_cohort(
    world: World,
    timeline: Timeline,
    rng: np.random.Generator,
    n_persons: int,
    max_referrals: int,
    chunk: int,
    n_chunks_max: int,
) -> Cohort:
    """Citizens with their referral starts; at most `max_referrals` referrals in the period in
    all (the rest of the run's target), so the last chunk ends exactly at the target.

    The referrals starting in the lead weeks after the period come from the same draws (the
    later referrals of these citizens) and from draws made after all of the period's, of
    citizens first referred then (as many a month as in the period), so that the period's
    citizens are the same with or without a lead."""
    months = timeline.first_month + np.arange(timeline.n_months)
    person, order, start, birth, fits = _schedules(world, timeline, rng, n_persons, months)
    keep = (start <= timeline.end_day) & fits
    keep &= np.cumsum(keep) <= max_referrals
    # a later referral after the period, of a citizen none of whose referrals the target cut
    complete = np.ones(n_persons, dtype=bool)
    complete[person[(start <= timeline.end_day) & fits & ~keep]] = False
    later = (start > timeline.end_day) & (start <= timeline.horizon_day) & fits & complete[person]
    persons = np.unique(person[keep])
    later &= np.isin(person, persons)
    remap = np.full(n_persons, -1)
    remap[persons] = np.arange(len(persons))
    lead_person, lead_start = remap[person[later]], start[later]
    person, start = remap[person[keep]], start[keep]
    order = np.arange(len(person)) - np.searchsorted(person, person)  # renumber after drops
    birth = birth[persons]

    home = _home_areas(world, rng, len(persons))
    area = _referral_areas(world, rng, home, person)
    male = _males(world, rng, home)
    birth = _unique_serial_birthdays(birth, male, chunk, n_chunks_max)
    share = world.citizens.replacement_cpr_share
    numbers = _cpr_numbers(rng, birth, male, chunk, n_chunks_max, share)
    cohort = Cohort(birth, male, numbers, person, order, start, area)
    return _with_lead(world, timeline, rng, cohort, lead_person, lead_start, home, chunk, n_chunks_max)


def _with_lead(
    world: World,
    timeline: Timeline,
    rng: np.random.Generator,
    cohort: Cohort,
    later_person: np.ndarray,
    later_start: np.ndarray,
    home: np.ndarray,
    chunk: int,
    n_chunks_max: int,
) -> Cohort:
    """The cohort with its lead referrals: the later ones of its citizens (`later_*`) and
    those of new citizens first referred after the period, whose first starts are as dense a
    month as the period's (with the seasonality) up to timeline.horizon_day."""
    period = timeline.first_month + np.arange(timeline.n_months)
    lead = timeline.lead_months
    seasonality = np.array(world.calendar.seasonality)
    n_new = round(cohort.n_persons * seasonality[lead % 12].sum() / seasonality[period % 12].sum())
    if n_new == 0:
        return cohort
    person, _, start, birth, fits = _schedules(world, timeline, rng, n_new, lead)
    keep = (start <= timeline.horizon_day) & fits
    persons = np.unique(person[keep])
    remap = np.full(n_new, -1)
    remap[persons] = cohort.n_persons + np.arange(len(persons))
    birth = birth[persons]
    new_home = _home_areas(world, rng, len(persons))
    new_male = _males(world, rng, new_home)
    all_birth = _unique_serial_birthdays(
        np.concatenate([cohort.birth, birth]), np.concatenate([cohort.male, new_male]), chunk, n_chunks_max
    )
    birth = all_birth[cohort.n_persons :]
    numbers = _cpr_numbers(
        rng,
        birth,
        new_male,
        chunk,
        n_chunks_max,
        world.citizens.replacement_cpr_share,
        earlier=cohort.birth * 2 + cohort.male,
    )
    lead_person = np.concatenate([later_person, remap[person[keep]]])
    lead_start = np.concatenate([later_start, start[keep]])
    homes = np.concatenate([home, new_home])
    order = np.lexsort((lead_start, lead_person))
    lead_person, lead_start = lead_person[order], lead_start[order]
    return replace(
        cohort,
        birth=np.concatenate([cohort.birth, birth]),
        male=np.concatenate([cohort.male, new_male]),
        cpr=np.concatenate([cohort.cpr, numbers]),
        lead_person=lead_person,
        lead_start=lead_start,
        lead_area=_referral_areas(world, rng, homes, lead_person),
    )


def _schedules(
    world: World, timeline: Timeline, rng: np.random.Generator, n_persons: int, months: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Citizens whose first referral starts in one of `months`, with their later referrals:
    per referral the person, its order, its start and whether the citizen's age then is within
    the target groups' limit; per person the birth day."""
    cfg = world.citizens
    counts = _referral_counts(rng, cfg.referrals_per_citizen, n_persons)
    first = _first_starts(world, rng, n_persons, months)
    lo, hi = cfg.age_at_first_start
    age = rng.uniform(lo, hi, n_persons)
    young = rng.random(n_persons) < cfg.under_30_share  # outside the target groups
    age = np.where(young, rng.uniform(*cfg.under_30_age, n_persons), age)
    birth = first - np.floor(age * 365.25).astype(np.int64)
    person = np.repeat(np.arange(n_persons), counts)
    order = np.arange(len(person)) - np.repeat(np.cumsum(counts) - counts, counts)
    gaps = rng.integers(*cfg.days_between_starts, size=len(person), endpoint=True) * (order > 0)
    start = _weekday_adjusted(first[person] + _cumsum_by_group(gaps, person), timeline, world, rng)
    fits = age_in_years(birth[person], start) <= cfg.max_age_at_start
    return person, order, start, birth, fits


def _area_shares(world: World) -> tuple[np.ndarray, np.ndarray]:
    areas = np.array(sorted(world.tender_areas))
    shares = np.array([world.tender_areas[a].share for a in areas])
    return areas, shares / shares.sum()


def _home_areas(world: World, rng: np.random.Generator, n: int) -> np.ndarray:
    areas, p = _area_shares(world)
    return areas[rng.choice(len(areas), n, p=p)]


def _referral_areas(
    world: World, rng: np.random.Generator, home: np.ndarray, person: np.ndarray
) -> np.ndarray:
    """Mostly the citizen's home area, otherwise one drawn by the areas' shares."""
    areas, p = _area_shares(world)
    other = areas[rng.choice(len(areas), len(person), p=p)]
    return np.where(rng.random(len(person)) < world.citizens.same_area_share, home[person], other)


def _males(world: World, rng: np.random.Generator, home: np.ndarray) -> np.ndarray:
    female_share = np.array([world.tender_areas[a].female_share for a in home])
    return rng.random(len(home)) >= female_share


def _referral_counts(rng: np.random.Generator, shares: dict[int, float], n: int) -> np.ndarray:
    values = np.array(list(shares))
    p = np.array(list(shares.values()))
    return values[rng.choice(len(values), n, p=p / p.sum())]


def _cumsum_by_group(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running sum of values within consecutive runs of the same group."""
    total = np.cumsum(values)
    starts = np.searchsorted(group, group)
    return total - (total[starts] - values[starts])


def _first_starts(world: World, rng: np.random.Generator, n: int, months: np.ndarray) -> np.ndarray:
    """First starts spread over `months` with the booking seasonality (quiet July and
    December)."""
    weights = np.array(world.calendar.seasonality)[months % 12]
    month = months[rng.choice(len(months), n, p=weights / weights.sum())]
    return first_day(month) + np.floor(rng.random(n) * month_length(month)).astype(np.int64)


def _weekday_adjusted(
    start: np.ndarray, timeline: Timeline, world: World, rng: np.random.Generator
) -> np.ndarray:
    """Most courses start on a Monday, none on a weekend; a start in the period is never
    moved after it."""
    to_monday = (rng.random(len(start)) < world.calendar.monday_start_share) | (weekday(start) >= 5)
    next_monday = monday_of(start) + 7 * (weekday(start) > 0)
    moved = np.where(to_monday, next_monday, start)
    return np.where((moved <= timeline.end_day) | (start > timeline.end_day), moved, start)


def _serial_cap(n_chunks_max: int) -> int:
    return SERIAL_SLOTS // max(n_chunks_max, 1)


def _rank_within(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2 … for the rows sharing a key, in row order."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    first = np.searchsorted(sorted_keys, sorted_keys)
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys)) - first
    return rank


def _unique_serial_birthdays(
    birth: np.ndarray, male: np.ndarray, chunk: int, n_chunks_max: int
) -> np.ndarray:
    """Move a birthday by a day where a chunk would run out of serial numbers on that date
    (a handful of people at national scale, none at smaller scales)."""
    birth = birth.copy()
    cap = _serial_cap(n_chunks_max)
    while True:
        over = _rank_within(birth * 2 + male) >= cap
        if not over.any():
            return birth
        birth[over] += 1


def _cpr_numbers(
    rng: np.random.Generator,
    birth: np.ndarray,
    male: np.ndarray,
    chunk: int,
    n_chunks_max: int,
    replacement_share: float,
    earlier: np.ndarray | None = None,
) -> np.ndarray:
    """Valid fictitious CPR numbers: DDMMYY of the birth date (a few as replacement numbers,
    day + 60), digit 7 consistent with the century, last digit odd for men. `earlier`: the
    keys (birth × 2 + male) of the chunk's citizens numbered before, whose serials are taken."""
    cap = _serial_cap(n_chunks_max)
    taken = np.zeros(0, dtype=np.int64) if earlier is None else np.asarray(earlier, dtype=np.int64)
    slot = chunk * cap + _rank_within(np.concatenate([taken, birth * 2 + male]))[len(taken) :]
    # A fixed shuffle of the slots, so serial digits do not count up visibly.
    shuffled = np.random.default_rng(7).permutation(SERIAL_SLOTS)[slot]
    dates = np.datetime_as_string(birth.astype("datetime64[D]"), unit="D")
    years = np.array([int(d[:4]) for d in dates])
    digit7 = np.array([_century_digits(y)[k] for y, k in zip(years, shuffled // 100, strict=True)])
    last = 2 * rng.integers(0, 5, len(birth)) + male
    replacement = rng.random(len(birth)) < replacement_share
    numbers = np.empty(len(birth), dtype=object)
    for i, d in enumerate(dates):
        day = int(d[8:10]) + (60 if replacement[i] else 0)
        numbers[i] = f"{day:02d}{d[5:7]}{d[2:4]}{digit7[i]}{shuffled[i] % 100:02d}{last[i]}"
    _check(numbers, birth, male)
    return numbers


def _century_digits(year: int) -> tuple[int, int, int, int]:
    """Four values of digit 7 that give this birth year's century (pipeline.cpr.century)."""
    yy = year % 100
    if 1900 <= year <= 1999:
        return (0, 1, 2, 3)
    if year >= 2000 and yy <= 36:
        return (4, 9, 5, 6)
    if year >= 2000 and yy <= 57:
        return (5, 6, 7, 8)
    raise ValueError(f"no CPR century digit for birth year {year}")


def _check(numbers: np.ndarray, birth: np.ndarray, male: np.ndarray) -> None:
    """Every number made must be one the pipeline's own CPR rules accept, with the same birth
    date and sex: a generator bug must not look like planted dirt."""
    births = birth.astype("datetime64[D]").astype(object)
    for number, born, is_male in zip(numbers, births, male, strict=True):
        info = cpr_rules.parse(number)
        if info is None or info.birth_date != born or (info.sex == "M") != bool(is_male):
            raise AssertionError(f"generated CPR {cpr_rules.mask(number)} does not match its person")
