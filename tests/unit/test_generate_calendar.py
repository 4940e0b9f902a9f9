"""The generator's vectorised calendar against Python's datetime, and planted bad dates."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pipeline.generate.extracts import delivery_carrying
from pipeline.generate.timeline import (
    NULL,
    Timeline,
    age_in_years,
    bad_text,
    date_of,
    first_day,
    is_bad,
    make_bad,
    monday_of,
    month_length,
    month_number,
    month_of,
    weekday,
)

RNG = np.random.default_rng(11)
DAYS = RNG.integers(0, 25_000, 2_000)  # 1970 … 2038
TIMELINE = Timeline(month_number("2023-01"), 24, delivery_day=5, history_weeks=56, follow_months=20)


def test_months_weeks_and_weekdays_agree_with_datetime() -> None:
    for day, month, first, length, monday, wd in zip(
        DAYS,
        month_of(DAYS),
        first_day(month_of(DAYS)),
        month_length(month_of(DAYS)),
        monday_of(DAYS),
        weekday(DAYS),
        strict=True,
    ):
        d = date_of(day)
        assert (1970 + month // 12, month % 12 + 1) == (d.year, d.month)
        assert date_of(first) == d.replace(day=1)
        next_first = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        assert length == (next_first - d.replace(day=1)).days
        assert date_of(monday) == d - dt.timedelta(days=d.weekday()) and wd == d.weekday()


@pytest.mark.parametrize(
    ("born", "on", "age"),
    [
        ("1980-02-29", "2021-02-28", 40),  # a leap-day birthday is not reached on Feb 28
        ("1980-02-29", "2021-03-01", 41),
        ("1990-06-15", "2024-06-14", 33),
        ("1990-06-15", "2024-06-15", 34),
    ],
)
def test_age_in_whole_years(born: str, on: str, age: int) -> None:
    days = [(dt.date.fromisoformat(x) - dt.date(1970, 1, 1)).days for x in (born, on)]
    assert age_in_years(np.array([days[0]]), np.array([days[1]]))[0] == age


def test_age_matches_birthday_counting_for_random_pairs() -> None:
    born, on = RNG.integers(-10_000, 10_000, 500), RNG.integers(10_000, 20_000, 500)
    for b, o, a in zip(born, on, age_in_years(born, on), strict=True):
        b_, o_ = date_of(b), date_of(o)
        assert a == o_.year - b_.year - ((o_.month, o_.day) < (b_.month, b_.day))


def test_a_fact_goes_in_the_first_delivery_on_or_after_its_date() -> None:
    dates = [TIMELINE.delivery_date(i) for i in range(TIMELINE.n_months)]
    days = RNG.integers(TIMELINE.start_day - 400, TIMELINE.end_day + 60, 3_000)
    for day, index in zip(days, delivery_carrying(TIMELINE, days), strict=True):
        on_or_after = [i for i, d in enumerate(dates) if d >= date_of(day)]
        assert index == (on_or_after[0] if on_or_after else -1)
    assert dates[0] == dt.date(2023, 2, 5) and date_of(TIMELINE.end_day) == dt.date(2024, 12, 31)


def test_months_before_the_period_go_to_the_first_delivery_and_after_it_nowhere() -> None:
    months = np.array(
        [month_number("2021-05"), month_number("2023-01"), month_number("2024-12"), month_number("2025-01")]
    )
    assert TIMELINE.delivery_of_month(months).tolist() == [0, 0, 23, -1]


def test_planted_bad_dates_are_impossible_and_keep_their_row_apart() -> None:
    forms = [(12, 0), (0, 31)]
    real = np.array([(dt.date(2024, 6, d) - dt.date(1970, 1, 1)).days for d in (5, 6)])
    bad = make_bad(real, np.array([0, 0]))
    assert is_bad(bad).all() and not is_bad(real).any() and not is_bad(np.array([NULL])).any()
    texts = [bad_text(v, "date", "iso", forms) for v in bad]
    assert texts == ["2024-18-05", "2024-18-06"]
    assert bad_text(make_bad(real[:1], np.array([1]))[0], "date", "dmy_dot", forms) == "36.06.2024"
    assert (
        bad_text(make_bad(np.array([month_number("2024-06")]), np.array([1]))[0], "month", "iso", forms)
        == "2024-18"
    )
    for text in texts:
        with pytest.raises(ValueError):
            dt.date.fromisoformat(text)
