"""The committed suites in expectations/ are exactly what the contract and quality.yaml produce,
and they say what those files say: read here independently, straight from the YAML, and
from the type table of docs/warehouse.md."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.quality.gx_context import EXPECTATIONS_DIR, drift, ensure_current, render, write_suites

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = yaml.safe_load((ROOT / "pipeline/contract/extracts.yaml").read_text(encoding="utf-8"))
CONFIG = yaml.safe_load((ROOT / "pipeline/quality/quality.yaml").read_text(encoding="utf-8"))
# docs/warehouse.md, "Columns": contract type -> DuckDB type, and what replaces a CPR column.
DOC_TYPES = {
    "text": "VARCHAR",
    "int": "INTEGER",
    "decimal": "DOUBLE",
    "date": "DATE",
    "month": "DATE",
    "week": "DATE",
    "code": "VARCHAR",
}
DOC_CPR = [("person_key", "VARCHAR"), ("birth_date", "DATE"), ("sex", "VARCHAR")]
DOC_METADATA = [
    ("_load_id", "BIGINT"),
    ("_file", "VARCHAR"),
    ("_delivery_date", "DATE"),
    ("_row_number", "BIGINT"),
    ("_extra", "VARCHAR"),
]


def suite(name: str) -> dict:
    return json.loads((EXPECTATIONS_DIR / "expectations" / f"{name}.json").read_text(encoding="utf-8"))


def expectations(name: str, check: str) -> list[dict]:
    return [e for e in suite(name)["expectations"] if e["meta"]["check"] == check]


def by_severity(name: str, check: str) -> dict[str, dict]:
    found = expectations(name, check)
    out = {e["severity"]: e["kwargs"] for e in found}
    assert len(out) == len(found), f"{check}: one expectation per severity"
    return out


def test_committed_suites_are_what_the_contract_and_configuration_produce() -> None:
    assert drift() == [], "expectations/ is stale: run `python -m pipeline.quality write-suites`"


def test_every_code_column_is_checked_against_exactly_its_contract_vocabulary() -> None:
    wanted = {
        f"codes.{extract}.{name}": sorted(code.lower() for code in column["codes"])
        for extract, spec in CONTRACT["extracts"].items()
        for name, column in spec["columns"].items()
        if column["type"] == "code"
    }
    codes = suite("landing_codes")["expectations"]
    found = {e["meta"]["check"]: sorted(e["kwargs"]["value_set"]) for e in codes}
    assert found == wanted
    assert {e["severity"] for e in suite("landing_codes")["expectations"]} == {CONFIG["landing"]["codes"]}


def test_schema_suite_lists_every_landing_column_with_its_documented_type() -> None:
    wanted = set()
    for extract, spec in CONTRACT["extracts"].items():
        for name, column in spec["columns"].items():
            pairs = DOC_CPR if column["type"] == "cpr" else [(name, DOC_TYPES[column["type"]])]
            wanted |= {f"{extract}.{col} {sql_type}" for col, sql_type in pairs}
        wanted |= {f"{extract}.{col} {sql_type}" for col, sql_type in DOC_METADATA}
    (types,) = expectations("landing_schema", "schema.types")
    assert set(types["kwargs"]["value_set"]) == wanted
    (columns,) = expectations("landing_schema", "schema.columns")
    assert set(columns["kwargs"]["value_set"]) == {pair.split(" ")[0] for pair in wanted}
    assert columns["severity"] == CONFIG["landing"]["schema"]
    (unexpected,) = expectations("landing_schema", "schema.unexpected_columns")
    assert unexpected["severity"] == CONFIG["landing"]["unexpected_columns"]


def test_required_columns_are_the_contracts_with_the_cpr_as_its_pseudonym() -> None:
    wanted = set()
    for extract, spec in CONTRACT["extracts"].items():
        for name, column in spec["columns"].items():
            if column.get("required"):
                names = [c for c, _ in DOC_CPR] if column["type"] == "cpr" else [name]
                wanted |= {f"{extract}.{n}" for n in names}
    (not_null,) = expectations("landing_columns", "not_null")
    assert set(not_null["meta"]["rows"]["values"]) == wanted
    assert not_null["kwargs"]["max_value"] == 0


def test_thresholds_and_severities_are_those_of_quality_yaml() -> None:
    landing = CONFIG["landing"]
    volume = by_severity("landing_deliveries", "volume.newest")
    assert volume["critical"]["min_value"] == landing["volume"]["newest"]["critical_below"]
    assert volume["warning"]["min_value"] == landing["volume"]["newest"]["warning_below"]
    assert volume["warning"]["max_value"] == landing["volume"]["newest"]["warning_above"]
    quarantine = by_severity("landing_deliveries", "quarantine_share")
    assert quarantine["critical"]["max_value"] == landing["quarantine_share"]["critical_above"]
    orphans = by_severity("landing_deliveries", "orphans.referral_id")
    assert orphans["warning"]["max_value"] == landing["orphans"]["warning_above"]
    assert orphans["critical"]["max_value"] == landing["orphans"]["critical_above"]
    missing = by_severity("landing_deliveries", "end_reason_missing")
    assert missing["critical"]["max_value"] == landing["end_reason_missing"]["critical_above"]
    (keys,) = expectations("landing_deliveries", "keys_unique")
    assert keys["severity"] == landing["keys_unique"] and keys["kwargs"]["max_value"] == 0


def test_freshness_allows_each_extract_its_configured_age() -> None:
    freshness = CONFIG["landing"]["freshness"]
    allowed = {}
    for e in expectations("landing_deliveries", "freshness"):
        assert e["severity"] == freshness["severity"]
        for extract in e["meta"]["rows"]["values"]:
            allowed[extract] = e["kwargs"]["max_value"]
    per_extract = freshness["max_days_per_extract"]
    wanted = {x: per_extract.get(x, freshness["max_days"]) for x in CONTRACT["extracts"]}
    assert allowed == wanted


def test_orphan_checks_follow_the_contract_references() -> None:
    columns = {column for spec in CONTRACT["extracts"].values() for column in spec.get("references", {})}
    found = {e["meta"]["check"] for e in suite("landing_deliveries")["expectations"]}
    assert {c for c in found if c.startswith("orphans.")} == {f"orphans.{c}" for c in columns}


def test_writing_twice_gives_the_same_bytes_and_removes_suites_that_are_gone(tmp_path: Path) -> None:
    written = write_suites(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == set(render())
    (tmp_path / "expectations" / "landing_retired.json").write_text("{}", encoding="utf-8")
    changed = write_suites(tmp_path)
    assert changed == [tmp_path / "expectations" / "landing_retired.json"]
    assert not changed[0].exists()
    assert drift(tmp_path) == []


def test_a_hand_edited_suite_is_refused_with_the_command_that_regenerates_it(tmp_path: Path) -> None:
    shutil.copytree(EXPECTATIONS_DIR, tmp_path / "ctx", ignore=shutil.ignore_patterns("uncommitted"))
    edited = tmp_path / "ctx" / "expectations" / "landing_codes.json"
    edited.write_text(edited.read_text(encoding="utf-8").replace('"fit"', '"fitt"'), encoding="utf-8")
    assert drift(tmp_path / "ctx") == ["expectations/landing_codes.json"]
    with pytest.raises(ConfigError, match=r"landing_codes\.json.*python -m pipeline\.quality write-suites"):
        ensure_current(tmp_path / "ctx")


def test_no_person_level_column_may_be_in_the_provider_mart() -> None:
    (forbidden,) = expectations("mart_provider_results_schema", "person_level_columns")
    assert {"person_key", "cpr", "referral_id", "birth_date"} <= set(forbidden["kwargs"]["value_set"])
    assert forbidden["severity"] == "critical"
