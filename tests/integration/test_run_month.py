"""`provmon run` resolves the as-of date and the month once and gives both to every step: a
build for a mid-month as-of decides and reports the same month, the last month complete on
that date (the month before the as-of month, computed here from the date itself)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import duckdb
import pytest

from pipeline.build import build
from pipeline.decisions.service import decide
from pipeline.run import run
from pipeline.settings import Settings

pytestmark = pytest.mark.integration

MID_MONTH_DAY = 15


def mid_month_before(as_of: dt.date) -> dt.date:
    """A day in the middle of the month of the default as_of: that month is not complete."""
    return as_of.replace(day=MID_MONTH_DAY)


def last_complete_month(as_of: dt.date) -> dt.date:
    """The first day of the newest month that ended on or before as_of (plain date arithmetic)."""
    following = as_of + dt.timedelta(days=1)
    if following.day == 1:
        return as_of.replace(day=1)
    return (as_of.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def published_as_of(settings: Settings) -> dt.date:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute("select as_of from meta.published_build").fetchone()[0]


def decided_months(settings: Settings) -> set[dt.date]:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        rows = con.execute("select distinct month from main.mart_booking_decisions").fetchall()
    return {row[0] for row in rows}


def report_months(settings: Settings) -> set[str]:
    return {p.name for p in settings.out_dir.iterdir() if p.is_dir() and p.name[:4].isdigit()}


def test_run_for_a_mid_month_as_of_decides_and_reports_the_same_month(
    warehouse_copy: Callable[[str], Settings],
) -> None:
    settings = warehouse_copy("run_mid_month")
    as_of = mid_month_before(published_as_of(settings))
    expected = last_complete_month(as_of)

    summary = run(settings, as_of=as_of)

    assert dict(summary.steps)["build"].startswith(f"build: as_of {as_of.isoformat()}")
    assert max(decided_months(settings)) == expected
    assert report_months(settings) == {f"{expected:%Y-%m}"}


def test_decide_defaults_to_the_month_of_the_published_build(
    warehouse_copy: Callable[[str], Settings],
) -> None:
    settings = warehouse_copy("decide_mid_month")
    as_of = mid_month_before(published_as_of(settings))
    build(settings, as_of=as_of)
    assert decide(settings).month == last_complete_month(as_of)
