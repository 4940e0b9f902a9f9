"""Month arithmetic (pipeline/months.py) against pandas' calendar arithmetic, an independent
implementation, over every month of several years."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipeline import months

EVERY_MONTH = [d.date() for d in pd.date_range("2019-01-01", "2026-12-01", freq="MS")]


@pytest.mark.parametrize("shift", [-25, -13, -12, -11, -1, 0, 1, 11, 12, 13, 25])
def test_add_months_agrees_with_pandas(shift: int) -> None:
    for first in EVERY_MONTH:
        day = first + dt.timedelta(days=17)
        expected = (pd.Timestamp(first) + pd.DateOffset(months=shift)).date()
        assert months.add_months(day, shift) == expected


def test_month_end_next_and_previous_agree_with_pandas() -> None:
    for first in EVERY_MONTH:
        stamp = pd.Timestamp(first)
        assert months.month_end(first) == (stamp + pd.offsets.MonthEnd(0)).date()
        assert months.next_month(first) == (stamp + pd.offsets.MonthBegin(1)).date()
        assert months.previous_month(first) == (stamp - pd.offsets.MonthBegin(1)).date()
        assert months.month_start(f"{first:%Y-%m}") == first


def test_month_range_and_months_between_count_the_same_months() -> None:
    first, last = dt.date(2023, 11, 20), dt.date(2025, 2, 3)
    expected = [d.date() for d in pd.date_range("2023-11-01", "2025-02-01", freq="MS")]
    assert months.month_range(first, last) == expected
    assert months.months_between(first, last) == len(expected) - 1
    assert months.month_range(last, first) == []


@pytest.mark.parametrize(
    ("as_of", "month"),
    [
        (dt.date(2024, 6, 30), dt.date(2024, 6, 1)),
        (dt.date(2024, 6, 15), dt.date(2024, 5, 1)),
        (dt.date(2024, 1, 1), dt.date(2023, 12, 1)),
        (dt.date(2024, 2, 29), dt.date(2024, 2, 1)),
        (dt.date(2023, 2, 28), dt.date(2023, 2, 1)),
    ],
)
def test_complete_month_is_the_as_of_month_only_on_its_last_day(as_of: dt.date, month: dt.date) -> None:
    assert months.complete_month(as_of) == month
