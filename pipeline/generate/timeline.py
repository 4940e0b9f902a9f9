"""Calendar arithmetic on whole numbers, vectorised.

The generator works on day numbers (days since 1970-01-01), month numbers (months since
1970-01) and week numbers counted from a Monday before the period, because numpy can shift
millions of those at once where date objects would need a Python loop. This module is the
only place that converts between them, decides which delivery a dated fact belongs to and
turns numbers back into the date texts of the contract."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import numpy as np

NULL = np.iinfo(np.int32).min  # a missing date or month
# A planted impossible date is stored as -(1 + form × BAD_SPAN + the real day or month number):
# it keeps the real value it was made from, so two corrupted rows never become identical.
BAD_SPAN = 1_000_000
_EPOCH = dt.date(1970, 1, 1)


def day_of(value: dt.date) -> int:
    return (value - _EPOCH).days


def date_of(day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(day))


def month_number(text: str) -> int:
    """'2024-03' as months since 1970-01."""
    year, month = (int(x) for x in text.split("-"))
    return (year - 1970) * 12 + month - 1


def month_text(month: int) -> str:
    return f"{1970 + month // 12:04d}-{month % 12 + 1:02d}"


def month_of(days: np.ndarray) -> np.ndarray:
    """Month number of each day number."""
    return np.asarray(days).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def first_day(months: np.ndarray) -> np.ndarray:
    """Day number of the first day of each month number."""
    return np.asarray(months).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def month_length(months: np.ndarray) -> np.ndarray:
    months = np.asarray(months)
    return first_day(months + 1) - first_day(months)


def monday_of(days: np.ndarray) -> np.ndarray:
    """The Monday on or before each day (1970-01-01 was a Thursday)."""
    days = np.asarray(days)
    return days - (days + 3) % 7


def weekday(days: np.ndarray) -> np.ndarray:
    """0 = Monday … 6 = Sunday."""
    return (np.asarray(days) + 3) % 7


def age_in_years(birth: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Whole years between two day numbers, as a person counts birthdays."""
    b = np.asarray(birth).astype("datetime64[D]")
    o = np.asarray(on).astype("datetime64[D]")

    def parts(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        months = d.astype("datetime64[M]")
        year = d.astype("datetime64[Y]")
        return year.astype(np.int64), (months - year).astype(np.int64), (d - months).astype(np.int64)

    (by, bm, bd), (oy, om, od) = parts(b), parts(o)
    # (month, day) compared, not the day of the year: leap years would shift that by one
    before_birthday = (om < bm) | ((om == bm) & (od < bd))
    return oy - by - before_birthday.astype(np.int64)


@dataclass(frozen=True)
class Timeline:
    """The period of a generated data set and the global week and month axes of a chunk's
    register arrays, with margins wide enough for any start's history and follow-up.

    `lead_weeks`: referrals starting up to this long after the period are simulated for the
    history before them (weeks on a benefit, a sickness case opened, paid hours), which falls
    in the period and is delivered, although they are not: a register delivers every
    citizen's rows, not only those of citizens referred before the data end."""

    first_month: int
    n_months: int
    delivery_day: int
    history_weeks: int
    follow_months: int
    lead_weeks: int = 0

    @cached_property
    def start_day(self) -> int:
        return int(first_day(np.array([self.first_month]))[0])

    @cached_property
    def end_day(self) -> int:
        """The last day of the last data month: the as-of date of the newest delivery."""
        return int(first_day(np.array([self.first_month + self.n_months]))[0]) - 1

    @cached_property
    def horizon_day(self) -> int:
        """The last day a simulated referral may start: lead_weeks after the period."""
        return self.end_day + 7 * self.lead_weeks

    @cached_property
    def lead_months(self) -> np.ndarray:
        """The month numbers after the period in which a simulated referral may start."""
        return np.arange(self.first_month + self.n_months, int(month_of(np.array([self.horizon_day]))[0]) + 1)

    @cached_property
    def week0(self) -> int:
        """Day number of the Monday of global week 0."""
        return int(monday_of(np.array([self.start_day]))[0]) - 7 * (self.history_weeks + 4)

    @cached_property
    def n_weeks(self) -> int:
        return (self.horizon_day - self.week0) // 7 + 1 + 5 * (self.follow_months + 1)

    @cached_property
    def month0(self) -> int:
        return self.first_month - (self.history_weeks // 4 + 3)

    @cached_property
    def n_global_months(self) -> int:
        return self.first_month + self.n_months + len(self.lead_months) - self.month0 + self.follow_months + 2

    @cached_property
    def week_month(self) -> np.ndarray:
        """Global month index of the Monday of each global week."""
        mondays = self.week0 + 7 * np.arange(self.n_weeks)
        return month_of(mondays) - self.month0

    def week_index(self, days: np.ndarray) -> np.ndarray:
        return (monday_of(days) - self.week0) // 7

    def month_index(self, days: np.ndarray) -> np.ndarray:
        return month_of(days) - self.month0

    # --- deliveries ---------------------------------------------------------------------------

    def delivery_date(self, index: int) -> dt.date:
        """Delivery `index` holds data month first_month + index, delivered the month after."""
        month = self.first_month + index + 1
        return dt.date(1970 + month // 12, month % 12 + 1, self.delivery_day)

    def delivery_of_month(self, months: np.ndarray) -> np.ndarray:
        """The delivery of a data month (month numbers); everything before the period goes in
        the first delivery (the backfill), a month after the period gets -1: not known yet."""
        index = np.maximum(np.asarray(months) - self.first_month, 0)
        return np.where(index < self.n_months, index, -1)

    def delivery_of_day(self, days: np.ndarray) -> np.ndarray:
        return self.delivery_of_month(month_of(days))

    def delivery_at(self, share: float) -> int:
        """The delivery at a position (0..1) of the period."""
        return round(share * (self.n_months - 1))

    def month_at(self, share: float) -> int:
        return self.first_month + self.delivery_at(share)

    # --- texts --------------------------------------------------------------------------------

    @cached_property
    def text_range(self) -> tuple[int, int]:
        """Day numbers that may be written: agreements signed years before, planned ends after."""
        return self.start_day - 12 * 366, self.end_day + 2 * 366

    def date_texts(self, fmt: str) -> np.ndarray:
        return _date_texts(*self.text_range, fmt)

    def iso_week_texts(self) -> np.ndarray:
        return _iso_week_texts(*self.text_range)


@dataclass(frozen=True)
class _Key:
    lo: int
    hi: int
    fmt: str


_TEXT_CACHE: dict[_Key, np.ndarray] = {}


def _date_texts(lo: int, hi: int, fmt: str) -> np.ndarray:
    """Texts of every day in [lo, hi] in one of the contract's date formats."""
    key = _Key(lo, hi, fmt)
    if key not in _TEXT_CACHE:
        iso = np.datetime_as_string(np.arange(lo, hi + 1).astype("datetime64[D]"), unit="D")
        if fmt == "iso":
            texts = list(iso)
        else:
            sep = "-" if fmt == "dmy_dash" else "."
            texts = [f"{s[8:10]}{sep}{s[5:7]}{sep}{s[0:4]}" for s in iso]
        _TEXT_CACHE[key] = np.array(texts, dtype=object)
    return _TEXT_CACHE[key]


def _iso_week_texts(lo: int, hi: int) -> np.ndarray:
    """'YYYY-Www' for every day in [lo, hi] (meaningful for Mondays)."""
    key = _Key(lo, hi, "iso_week")
    if key not in _TEXT_CACHE:
        texts = []
        for day in range(lo, hi + 1):
            year, week, _ = date_of(day).isocalendar()
            texts.append(f"{year:04d}-W{week:02d}")
        _TEXT_CACHE[key] = np.array(texts, dtype=object)
    return _TEXT_CACHE[key]


def make_bad(values: np.ndarray, form: np.ndarray) -> np.ndarray:
    return -(1 + np.asarray(form) * BAD_SPAN + np.asarray(values))


def is_bad(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    return (values < 0) & (values != NULL)


def bad_text(value: int, kind: str, fmt: str, forms: list[tuple[int, int]]) -> str:
    """The text of a planted impossible date or month: the real one with its month moved past
    12 or its day past 31 (forms[k] = (month shift, day shift)), written as the file writes
    its dates. A month has no day, so its month is always moved."""
    form, real = divmod(-int(value) - 1, BAD_SPAN)
    month_shift, day_shift = forms[form]
    if kind == "month":
        return f"{1970 + real // 12:04d}-{real % 12 + 1 + (month_shift or 12):02d}"
    real_date = date_of(real)
    y, m, d = real_date.year, real_date.month + month_shift, real_date.day + day_shift
    if fmt == "iso":
        return f"{y:04d}-{m:02d}-{d:02d}"
    sep = "-" if fmt == "dmy_dash" else "."
    return f"{d:02d}{sep}{m:02d}{sep}{y:04d}"
