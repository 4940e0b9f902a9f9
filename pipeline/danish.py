"""Danish formatting of numbers, percentages, months and dates for everything a user reads.

Reports, reason sentences and dashboards are read by caseworkers and providers in Danish:
decimal comma, thousands dot ("1.234,5"), a space before the percent sign ("23,4 %") and
lower-case month names ("maj 2024"). The formatting lives here, once, so that a decision
sentence and the report that shows it can never disagree about how a number looks.

Rounding is half-up on the decimal value a person sees (2,675 -> "2,68"), not Python's
round-half-even on the binary float, because a reader checking a number by hand rounds half-up.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

# What a missing or undefined number shows as (a dash, not "nan" or an empty cell).
MISSING = "–"
DECIMAL_MARK = ","
THOUSANDS_MARK = "."

MONTH_NAMES = (
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
)

# Ordinal words for the small counts a reason sentence uses ("for anden måned i træk").
_ORDINAL_WORDS = (
    "første",
    "anden",
    "tredje",
    "fjerde",
    "femte",
    "sjette",
    "syvende",
    "ottende",
    "niende",
    "tiende",
    "ellevte",
    "tolvte",
)


def _is_missing(x: object) -> bool:
    if x is None:
        return True
    try:
        return not math.isfinite(float(x))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _rounded(x: float, decimals: int) -> Decimal:
    """x rounded half-up at `decimals` places, starting from its shortest decimal repr."""
    if decimals < 0:
        raise ValueError(f"decimals must be 0 or more, got {decimals}")
    quantum = Decimal(1).scaleb(-decimals)
    return Decimal(repr(float(x))).quantize(quantum, rounding=ROUND_HALF_UP)


def _group_thousands(digits: str) -> str:
    head = len(digits) % 3 or 3
    groups = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return THOUSANDS_MARK.join(groups)


def format_number(x: float | int | None, decimals: int = 1) -> str:
    """A number with decimal comma and thousands dot: 1234.56 -> "1.234,6".

    None, NaN and infinities (an undefined ratio) show as a dash, never as "nan"."""
    if _is_missing(x):
        return MISSING
    value = _rounded(float(x), decimals)  # type: ignore[arg-type]
    sign = "-" if value < 0 else ""
    whole, _, frac = f"{abs(value):f}".partition(".")
    text = sign + _group_thousands(whole)
    return f"{text}{DECIMAL_MARK}{frac}" if decimals > 0 else text


def format_int(n: int | float | None) -> str:
    """A whole number with thousands dot: 12345 -> "12.345" (a float is rounded half-up)."""
    return format_number(n, 0)


def format_percent(share: float | None, decimals: int = 1, *, trim: bool = False) -> str:
    """A share (0-1) as a Danish percentage: 0.234 -> "23,4 %".

    trim drops a zero fraction, for levels written as people say them: 0.95 -> "95 %"
    next to 0.998 -> "99,8 %"."""
    if _is_missing(share):
        return MISSING
    text = format_number(float(share) * 100, decimals)  # type: ignore[arg-type]
    if trim and DECIMAL_MARK in text:
        text = text.rstrip("0").rstrip(DECIMAL_MARK)
    return f"{text} %"


def format_percent_range(low: float | None, high: float | None, decimals: int = 1) -> str:
    """An interval of shares with an en dash and one percent sign: "12,1–26,4 %"."""
    if _is_missing(low) or _is_missing(high):
        return MISSING
    return f"{format_number(float(low) * 100, decimals)}–{format_percent(high, decimals)}"  # type: ignore[arg-type]


def _as_date(d: date | datetime | str) -> date:
    """A date from a date, a datetime/pandas Timestamp, or text 'YYYY-MM' / 'YYYY-MM-DD'."""
    if isinstance(d, datetime):
        return d.date()
    if isinstance(d, date):
        return d
    if isinstance(d, str):
        text = d.strip()
        try:
            return date.fromisoformat(text if len(text) > 7 else f"{text}-01")
        except ValueError:
            raise ValueError(f"not a month or date: {d!r} (expected YYYY-MM or YYYY-MM-DD)") from None
    raise TypeError(f"not a date: {d!r}")


def format_month(d: date | datetime | str) -> str:
    """The calendar month in Danish, lower case: 2024-05-31 -> "maj 2024"."""
    day = _as_date(d)
    return f"{MONTH_NAMES[day.month - 1]} {day.year}"


def format_date(d: date | datetime | str, *, long: bool = False) -> str:
    """A date the Danish way: "31.05.2024", or with long=True "31. maj 2024"."""
    day = _as_date(d)
    if long:
        return f"{day.day}. {MONTH_NAMES[day.month - 1]} {day.year}"
    return f"{day.day:02d}.{day.month:02d}.{day.year}"


def ordinal(n: int) -> str:
    """An ordinal for counting months in a sentence: 2 -> "anden", 15 -> "15."."""
    if n < 1:
        raise ValueError(f"an ordinal needs a count of 1 or more, got {n}")
    return _ORDINAL_WORDS[n - 1] if n <= len(_ORDINAL_WORDS) else f"{n}."
