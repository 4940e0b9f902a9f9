"""Citizens of one chunk: birth, sex, a unique fictitious CPR number, and when each of their
referrals starts and in which tender area.

CPR numbers must be unique across the whole run although chunks are generated one at a time:
each chunk owns its own range of the serial digits (digits 7-9) on every birth date, so two
chunks can never make the same number, and no list of all numbers is ever held."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline import cpr as cpr_rules
from pipeline.generate.config import World
from pipeline.generate.timeline import Timeline, age_in_years, first_day, monday_of, month_length, weekday

SERIAL_SLOTS = 400  # digit 7 (4 choices consistent with the century) × digits 8-9


@dataclass
class Cohort:
    birth: np.ndarray  # day number
    male: np.ndarray  # bool
    cpr: np.ndarray  # object array of 10-digit texts
    # referrals, ordered by person and then by start
    person: np.ndarray
    order: np.ndarray  # 0 for the person's first referral in the data, 1 for the next …
    start: np.ndarray  # day number
    area: np.ndarray

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
    """Citizens with their referral starts; at most `max_referrals` referrals in all (the rest
    of the run's target), so the last chunk ends exactly at the target."""
    cfg = world.citizens
    counts = _referral_counts(rng, cfg.referrals_per_citizen, n_persons)
    first = _first_starts(world, timeline, rng, n_persons)
    lo, hi = cfg.age_at_first_start
    age = rng.uniform(lo, hi, n_persons)
    young = rng.random(n_persons) < cfg.under_30_share  # outside the target groups
    age = np.where(young, rng.uniform(*cfg.under_30_age, n_persons), age)
    birth = first - np.floor(age * 365.25).astype(np.int64)
    person = np.repeat(np.arange(n_persons), counts)
    order = np.arange(len(person)) - np.repeat(np.cumsum(counts) - counts, counts)
    gaps = rng.integers(*cfg.days_between_starts, size=len(person), endpoint=True) * (order > 0)
    start = _weekday_adjusted(first[person] + _cumsum_by_group(gaps, person), timeline, world, rng)
    keep = (start <= timeline.end_day) & (age_in_years(birth[person], start) <= cfg.max_age_at_start)
    keep &= np.cumsum(keep) <= max_referrals
    person, order, start = person[keep], order[keep], start[keep]
    persons = np.unique(person)
    remap = np.full(n_persons, -1)
    remap[persons] = np.arange(len(persons))
    person = remap[person]
    order = np.arange(len(person)) - np.searchsorted(person, person)  # renumber after drops
    birth = birth[persons]

    areas = np.array(sorted(world.tender_areas))
    shares = np.array([world.tender_areas[a].share for a in areas])
    home = areas[rng.choice(len(areas), len(persons), p=shares / shares.sum())]
    other = areas[rng.choice(len(areas), len(person), p=shares / shares.sum())]
    area = np.where(rng.random(len(person)) < cfg.same_area_share, home[person], other)
    female_share = np.array([world.tender_areas[a].female_share for a in home])
    male = rng.random(len(persons)) >= female_share
    birth = _unique_serial_birthdays(birth, male, chunk, n_chunks_max)
    numbers = _cpr_numbers(rng, birth, male, chunk, n_chunks_max, cfg.replacement_cpr_share)
    return Cohort(birth, male, numbers, person, order, start, area)


def _referral_counts(rng: np.random.Generator, shares: dict[int, float], n: int) -> np.ndarray:
    values = np.array(list(shares))
    p = np.array(list(shares.values()))
    return values[rng.choice(len(values), n, p=p / p.sum())]


def _cumsum_by_group(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running sum of values within consecutive runs of the same group."""
    total = np.cumsum(values)
    starts = np.searchsorted(group, group)
    return total - (total[starts] - values[starts])


def _first_starts(world: World, timeline: Timeline, rng: np.random.Generator, n: int) -> np.ndarray:
    """First starts spread over the period with the booking seasonality (quiet July and
    December)."""
    months = timeline.first_month + np.arange(timeline.n_months)
    weights = np.array(world.calendar.seasonality)[months % 12]
    month = months[rng.choice(len(months), n, p=weights / weights.sum())]
    return first_day(month) + np.floor(rng.random(n) * month_length(month)).astype(np.int64)


def _weekday_adjusted(
    start: np.ndarray, timeline: Timeline, world: World, rng: np.random.Generator
) -> np.ndarray:
    """Most courses start on a Monday, none on a weekend; never after the period."""
    to_monday = (rng.random(len(start)) < world.calendar.monday_start_share) | (weekday(start) >= 5)
    next_monday = monday_of(start) + 7 * (weekday(start) > 0)
    moved = np.where(to_monday, next_monday, start)
    return np.where(moved <= timeline.end_day, moved, start)


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
) -> np.ndarray:
    """Valid fictitious CPR numbers: DDMMYY of the birth date (a few as replacement numbers,
    day + 60), digit 7 consistent with the century, last digit odd for men."""
    cap = _serial_cap(n_chunks_max)
    slot = chunk * cap + _rank_within(birth * 2 + male)
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
