"""Danish names and wordings of the data-quality page and the report's "Datakvalitet" section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.contract import load_contract
from pipeline.quality import wording
from pipeline.quality.config import load_config
from pipeline.quality.labels import WHOLE_ROW, load_labels

ROOT = Path(__file__).resolve().parents[2]


def test_every_contract_column_and_checked_table_has_a_danish_name() -> None:
    labels = load_labels()
    columns = {c for e in load_contract().extracts.values() for c in e.columns}
    assert columns <= set(labels.columns), sorted(columns - set(labels.columns))
    assert set(load_config().marts) <= set(labels.tables)
    for name, extract in load_contract().extracts.items():
        assert labels.table(f"landing.{name}") == extract.danish


def test_every_verb_of_the_run_log_has_a_danish_name() -> None:
    """The verbs `record_run` is called with anywhere in the package."""
    used = set()
    for path in (ROOT / "pipeline").rglob("*.py"):
        used |= set(re.findall(r"record_run\([^,]+,\s*\"([^\"]+)\"", path.read_text(encoding="utf-8")))
    assert used and used <= set(load_labels().verbs), sorted(used - set(load_labels().verbs))


def test_a_key_of_several_columns_and_the_whole_row_are_named() -> None:
    labels = load_labels()
    assert labels.column("referral_id, week_start") == "henvisnings-id, uge (mandag)"
    assert labels.column(None) == WHOLE_ROW
    assert labels.column("not_a_column") == "not_a_column"


@pytest.mark.parametrize(
    ("value", "column", "shown"),
    [
        (0.0536, "quarantine_share", "5,36 %"),
        (0.25, "orphan_share_referral_id", "25 %"),
        (0.739, "volume_ratio_newest", "0,739"),
        (0.8, "volume_ratio_newest", "0,8"),
        (1103, "rows", "1.103"),
        (12345.0, None, "12.345"),
        (True, None, "ja"),
        (None, None, "–"),
        ("2025-01-05", None, "05.01.2025"),
    ],
)
def test_values_are_written_the_danish_way(value: object, column: str | None, shown: str) -> None:
    assert wording.value(value, column) == shown


def test_thresholds_are_said_in_danish_words() -> None:
    between = "expect_column_values_to_be_between"
    assert wording.threshold(between, {"column": "quarantine_share", "max_value": 0.05}) == "højst 5 %"
    assert wording.threshold(
        between, {"column": "volume_ratio_newest", "min_value": 0.8, "max_value": 2.0}
    ) == ("mellem 0,8 og 2")
    assert wording.threshold(between, {"column": "x", "min_value": 0, "strict_min": True}) == "over 0"
    in_set = "expect_column_values_to_be_in_set"
    assert wording.threshold(in_set, {"column": "value", "value_set": ["a", "b"]}) == "en af: a, b"
    assert (
        wording.threshold("expect_column_values_to_not_be_in_set", {"value_set": ["cpr"]}) == "ingen af: cpr"
    )
    assert wording.threshold(
        "expect_column_pair_values_to_be_equal", {"column_A": "rows", "column_B": "rows_logged"}
    ) == ("rows lig med rows_logged")
