"""The decision store's tests as `provmon decide` runs them before it commits: every test the
yml declares on the store and its marts is checked, on a real (in-memory) DuckDB with tables
made from the yml's data types, and a bad row is found and named."""

from __future__ import annotations

import duckdb
import pytest
import yaml

from pipeline.decisions.errors import DecisionInputError
from pipeline.decisions.store import STORE_YML, check_store, store_checks


def _store() -> duckdb.DuckDBPyConnection:
    """The store's four tables, with the columns and types the yml declares."""
    declared = yaml.safe_load(STORE_YML.read_text(encoding="utf-8"))
    models = {m["name"]: m["columns"] for m in declared["models"]}
    con = duckdb.connect()
    for source in declared["sources"]:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {source['schema']}")
        for table in source["tables"]:
            published = table.get("config", {}).get("meta", {}).get("published_as")
            columns = models[published] if published else table["columns"]
            ddl = ", ".join(f'"{c["name"]}" {c["data_type"]}' for c in columns)
            con.execute(f"CREATE TABLE {source['schema']}.{table['name']} ({ddl})")
    return con


def _count_tests() -> int:
    declared = yaml.safe_load(STORE_YML.read_text(encoding="utf-8"))
    nodes = [t for s in declared["sources"] for t in s["tables"]] + declared["models"]
    return sum(
        len(n.get("data_tests", [])) + sum(len(c.get("data_tests", [])) for c in n.get("columns", []))
        for n in nodes
    )


def test_every_declared_test_is_checked() -> None:
    assert len(store_checks()) == _count_tests() > 0


def test_an_empty_store_passes_and_a_bad_row_is_named() -> None:
    con = _store()
    check_store(con)
    con.execute(
        "INSERT INTO decisions.booking_allocation (month, model, tender_area, provider_id, state, "
        "rule_version, shown, computed_at) VALUES "
        "('2024-01-01', 'soft', 1, 'P01', 'PURPLE', 'v', true, now()), "
        "('2024-01-01', 'soft', 1, 'P01', 'GREEN', 'v', true, now())"
    )
    con.execute("INSERT INTO meta.rule_versions (rule_version) VALUES (NULL)")
    with pytest.raises(DecisionInputError) as caught:
        check_store(con)
    message = str(caught.value)
    assert '"decisions"."booking_allocation".state accepted_values: 1 rows' in message
    assert '"decisions"."booking_allocation" unique_combination: 1 rows' in message
    assert '"meta"."rule_versions".rule_version not_null: 1 rows' in message
    assert "\n" not in message


def test_a_warehouse_without_the_store_is_told_to_build() -> None:
    """A warehouse built before the store existed: decide says what to do, in one line."""
    from pipeline.decisions.store import require_store

    with pytest.raises(
        DecisionInputError, match=r"no decisions\.booking_decisions: build it first \(provmon build\)"
    ):
        require_store(duckdb.connect())
