"""Month arithmetic, in one place. A month is keyed by its first day throughout provmon (the
as-of month of a mart row, a decision month, a report folder); its as_of is its last day."""

from __future__ import annotations

import calendar
from datetime import date, datetime


def month_start(d: date | datetime | str) -> date:
    """The first day of d's calendar month ('YYYY-MM', an ISO date text, a date or datetime)."""
    if isinstance(d, str):
        d = date.fromisoformat(d if len(d.strip()) > 7 else f"{d.strip()}-01")
    if isinstance(d, datetime):
        d = d.date()
    return date(d.year, d.month, 1)


def month_end(d: date | datetime | str) -> date:
    """The last day of d's calendar month: the as_of of that month."""
    first = month_start(d)
    return date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])


def add_months(d: date | datetime | str, months: int) -> date:
    """The first day of the month `months` calendar months after d's (before, when negative)."""
    first = month_start(d)
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def next_month(d: date) -> date:
    """The first day of the month after d's."""
    return add_months(d, 1)


def previous_month(d: date) -> date:
    """The first day of the month before d's."""
    return add_months(d, -1)


def month_range(first: date, last: date) -> list[date]:
    """Every month from first to last, both included (empty when last is before first)."""
    months, month = [], month_start(first)
    while month <= month_start(last):
        months.append(month)
        month = next_month(month)
    return months


def months_between(start: date, end: date) -> int:
    """Whole calendar months from start's month to end's (0 within one month)."""
    return (end.year - start.year) * 12 + end.month - start.month


def complete_month(as_of: date) -> date:
    """The newest month known in full on as_of: its own month when as_of is the month's last
    day, else the month before. A build for a mid-month as_of decides and reports this month,
    since the as_of month itself is still running."""
    return month_start(as_of) if as_of == month_end(as_of) else previous_month(as_of)
