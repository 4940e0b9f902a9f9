"""A check's observed value and threshold in Danish, for the data-quality page and reports.

The CLI's messages stay in English (like every command line message of provmon); what a person
reads in a report is Danish: decimal comma, thousands dot, shares as percentages and the
threshold said in words ("højst 5 %", "mellem 0,8 og 2"). Frame columns whose name says they
hold a share (`quarantine_share`, `orphan_share_referral_id`, `fill_share`) are shown as
percentages, so an observed 0,0536 and its threshold 0,05 read as 5,36 % and 5 %."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline import danish

# The frame columns a result quotes next to its value, in Danish.
CONTEXT = {
    "rows": "rækker",
    "previous_median": "median af de foregående leverancer",
    "delivery_date": "leveret",
    "ended": "afsluttede rækker",
    "fill_share": "udfyldt",
    "fill_previous": "udfyldt før",
}
# Columns that name the row of a long frame (which column, which code), shown before a value.
ROW_NAMES = ("column_key", "column_name")
SHOWN_VALUES = 12
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def is_share(column: str | None) -> bool:
    return bool(column) and "share" in str(column)


def value(x: Any, column: str | None = None) -> str:
    """One value in Danish: 1.234 / 0,739 / 5,36 % / 05.01.2025 / ja."""
    if _missing(x):
        return danish.MISSING
    if isinstance(x, bool):
        return "ja" if x else "nej"
    if isinstance(x, pd.Timestamp | dt.datetime | dt.date):
        return danish.format_date(x)
    if isinstance(x, int | float):
        number = float(x)
        if not math.isfinite(number):
            return danish.MISSING
        if is_share(column):
            return danish.format_percent(number, 2 if 0 < abs(number) < 0.1 else 1, trim=True)
        if number.is_integer():
            return danish.format_int(number)
        digits = max(0, min(4, 2 - math.floor(math.log10(abs(number)))))
        text = danish.format_number(number, digits)
        return text.rstrip("0").rstrip(",") if danish.DECIMAL_MARK in text else text
    if isinstance(x, str) and ISO_DATE.match(x):
        return danish.format_date(x)
    return str(x)


def _context(row: Mapping[str, Any], context: Sequence[str]) -> str:
    parts = [f"{CONTEXT.get(c, c)} {value(row.get(c), c)}" for c in context if not _missing(row.get(c))]
    return f" ({', '.join(parts)})" if parts else ""


def observed(row: Mapping[str, Any], columns: Sequence[str], context: Sequence[str] = ()) -> str:
    """A judged frame row: `referrals.end_date: 3 (rækker 120)` or `5,36 % (rækker 53)`."""
    values = ", ".join(value(row.get(c), c) for c in columns)
    names = [str(row[n]) for n in ROW_NAMES if n in row and n not in columns and not _missing(row[n])]
    prefix = f"{names[0]}: " if names else ""
    return f"{prefix}{values}{_context(row, context)}"


def as_expected(judged: int) -> str:
    return f"alle {danish.format_int(judged)} som forventet"


def more(count: int) -> str:
    return f"og {danish.format_int(count)} mere"


def missing_values(missing: Sequence[str]) -> str:
    return f"mangler: {', '.join(missing)}" if missing else "alle til stede"


NONE = "ingen"


def not_evaluated(problem: str) -> str:
    return f"kunne ikke vurderes: {problem}"


def _listed(values: Sequence[Any]) -> str:
    shown = ", ".join(str(v) for v in list(values)[:SHOWN_VALUES])
    return shown if len(values) <= SHOWN_VALUES else f"{shown} … ({danish.format_int(len(values))} i alt)"


@dataclass(frozen=True)
class BoundWords:
    """How a bound is said: the command line's English, the reports' Danish."""

    equal: str
    between: str
    above: str
    at_least: str
    at_most: str


ENGLISH = BoundWords("{a} = {b}", "between {low} and {high}", "> {low}", ">= {low}", "<= {high}")
DANISH = BoundWords("{a} lig med {b}", "mellem {low} og {high}", "over {low}", "mindst {low}", "højst {high}")


def bound(kwargs: Mapping[str, Any], words: BoundWords, fmt: Callable[[Any], str]) -> str | None:
    """A pair or range bound of an expectation in words; None when it has none (a value set)."""
    if "column_A" in kwargs:
        return words.equal.format(a=kwargs["column_A"], b=kwargs["column_B"])
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    low_text, high_text = fmt(low), fmt(high)
    if low is not None and high is not None:
        return words.between.format(low=low_text, high=high_text)
    if low is not None:
        return (words.above if kwargs.get("strict_min") else words.at_least).format(low=low_text)
    if high is not None:
        return words.at_most.format(high=high_text)
    return None


def threshold(expectation_type: str, kwargs: Mapping[str, Any]) -> str:
    """The bound of an expectation in Danish words."""
    values = kwargs.get("value_set")
    if values is not None:
        if expectation_type.endswith("_not_be_in_set"):
            return f"ingen af: {_listed(values)}"
        if expectation_type.endswith("_contain_set"):
            return f"alle disse findes: {_listed(values)}"
        return f"en af: {_listed(values)}"
    said = bound(kwargs, DANISH, lambda x: value(x, kwargs.get("column")))
    return said or danish.MISSING
