"""Danish formatting: hand-written expectations from Danish usage, plus a round trip that
parses the text back independently and compares with decimal half-up rounding."""

import math
import random
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
import pytest

from pipeline import danish


@pytest.mark.parametrize(
    ("x", "decimals", "expected"),
    [
        (0, 1, "0,0"),
        (0.25, 1, "0,3"),  # half-up, not half-even
        (2.675, 2, "2,68"),  # the float is 2.67499..., a reader sees 2,675
        (1234.56, 1, "1.234,6"),
        (1234567.891, 2, "1.234.567,89"),
        (999.95, 1, "1.000,0"),  # rounding carries into a new thousands group
        (-1234.5, 1, "-1.234,5"),
        (-0.04, 1, "0,0"),  # no "-0,0"
        (12, 0, "12"),
        (100000, 0, "100.000"),
        (None, 1, "–"),
        (float("nan"), 1, "–"),
        (float("inf"), 1, "–"),
    ],
)
def test_format_number(x: float | None, decimals: int, expected: str) -> None:
    assert danish.format_number(x, decimals) == expected


def _parse_danish(text: str) -> Decimal:
    return Decimal(text.replace(".", "").replace(",", "."))


def test_format_number_round_trips_against_decimal_half_up() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        x = rng.uniform(-5e6, 5e6) if rng.random() < 0.5 else rng.uniform(-10, 10)
        decimals = rng.randint(0, 3)
        text = danish.format_number(x, decimals)
        expected = Decimal(str(x)).quantize(Decimal(10) ** -decimals, rounding=ROUND_HALF_UP)
        assert _parse_danish(text) == expected, (x, decimals, text)
        whole = text.lstrip("-").split(",")[0]
        # thousands groups: a head of 1-3 digits, then groups of exactly three
        groups = whole.split(".")
        assert 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]), text


@pytest.mark.parametrize(
    ("n", "expected"), [(0, "0"), (7, "7"), (1000, "1.000"), (12345, "12.345"), (-1234567, "-1.234.567")]
)
def test_format_int(n: int, expected: str) -> None:
    assert danish.format_int(n) == expected


@pytest.mark.parametrize(
    ("share", "kwargs", "expected"),
    [
        (0.234, {}, "23,4 %"),
        (0.18181818, {}, "18,2 %"),
        (1.0, {}, "100,0 %"),
        (0.5, {"decimals": 0}, "50 %"),
        (0.95, {"trim": True}, "95 %"),
        (0.998, {"trim": True}, "99,8 %"),
        (0.8, {"trim": True}, "80 %"),
        (None, {}, "–"),
    ],
)
def test_format_percent(share: float | None, kwargs: dict, expected: str) -> None:
    assert danish.format_percent(share, **kwargs) == expected


def test_format_percent_range() -> None:
    assert danish.format_percent_range(0.121, 0.264) == "12,1–26,4 %"
    assert danish.format_percent_range(None, 0.2) == "–"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2024, 5, 31), "maj 2024"),
        (datetime(2024, 1, 1, 12, 0), "januar 2024"),
        (pd.Timestamp("2023-12-01"), "december 2023"),
        ("2024-03", "marts 2024"),
        ("2024-10-15", "oktober 2024"),
    ],
)
def test_format_month(value: object, expected: str) -> None:
    assert danish.format_month(value) == expected


def test_every_month_name() -> None:
    months = ", ".join(danish.format_month(date(2024, m, 1)).split()[0] for m in range(1, 13))
    assert months == (
        "januar, februar, marts, april, maj, juni, juli, august, september, oktober, november, december"
    )


def test_format_date() -> None:
    assert danish.format_date(date(2024, 5, 3)) == "03.05.2024"
    assert danish.format_date(date(2024, 5, 3), long=True) == "3. maj 2024"
    assert danish.format_date("2024-12-24", long=True) == "24. december 2024"


def test_bad_month_text_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        danish.format_month("maj 2024")


def test_ordinal() -> None:
    assert [danish.ordinal(i) for i in (1, 2, 3, 12)] == ["første", "anden", "tredje", "tolvte"]
    assert danish.ordinal(13) == "13."
    with pytest.raises(ValueError):
        danish.ordinal(0)


def test_missing_is_never_nan_text() -> None:
    for fn in (danish.format_number, danish.format_int, danish.format_percent):
        assert "nan" not in fn(math.nan).lower()
