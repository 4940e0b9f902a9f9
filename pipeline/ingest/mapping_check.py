"""`provmon ingest --check-mapping`: what the site mapping makes of the newest delivery of each
extract, column by column and code by code, without loading anything.

An analyst writing the mapping for a new site runs this until nothing is unmapped; the same
view (mapping.SiteMapping.apply) that ingestion uses produces the answer, so what it reports
is what ingestion would do. Values of a CPR column are never shown, and anything else that
looks like a CPR number is masked."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.contract import Extract, load_contract
from pipeline.cpr import scrub
from pipeline.errors import ProvmonError, UnreadableFileError
from pipeline.ingest.deliveries import Delivery, find_deliveries
from pipeline.ingest.dialects import ROW_NUMBER, RawTable, read_table
from pipeline.ingest.mapping import SiteMapping, find_mapping
from pipeline.ingest.sql import MACROS
from pipeline.sql import ident

_SHOWN_VALUES = 40  # distinct values listed per code column


@dataclass
class MappingCheck:
    """The report's lines and what it counted; str() is the report."""

    lines: list[str] = field(default_factory=list)
    unmapped_values: int = 0
    missing_columns: int = 0
    refused: int = 0
    read: int = 0

    def __str__(self) -> str:
        summary = (
            f"check-mapping: {self.read} newest deliveries read, {self.unmapped_values} unmapped "
            f"value{'s' if self.unmapped_values != 1 else ''}, {self.missing_columns} missing required "
            f"column{'s' if self.missing_columns != 1 else ''}, {self.refused} refused; nothing loaded"
        )
        return "\n".join([*self.lines, summary])


def check_mapping(raw_dir: Path, config: Path | None = None) -> MappingCheck:
    """Read the newest delivery of each extract through the site mapping and report per
    column and code what maps to what and what is unmapped."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise ProvmonError(f"the raw folder {raw_dir} does not exist (set it with --raw-dir)")
    mapping = find_mapping(raw_dir, config)
    if mapping is None:
        raise ProvmonError(
            "no site mapping found: give one with --config FILE, or put provmon.yaml in the "
            "repository root or the raw folder (docs/site-mapping.md)"
        )
    deliveries, _ = find_deliveries(raw_dir, mapping)
    newest: dict[str, Delivery] = {}
    for delivery in deliveries:  # in delivery order: the last one of each extract wins
        newest[delivery.extract] = delivery
    report = MappingCheck([scrub(f"site mapping {mapping.path} (version {mapping.short_version})")])
    with tempfile.TemporaryDirectory(prefix="provmon-check-") as tmp, duckdb.connect(":memory:") as con:
        for macro in MACROS:
            con.execute(macro)
        for name, spec in load_contract().extracts.items():
            if name not in newest:
                report.lines.append(f"\n{name}: no delivery")
                continue
            _check_delivery(con, mapping, spec, newest[name], Path(tmp), report)
    return report


def _check_delivery(
    con: duckdb.DuckDBPyConnection,
    mapping: SiteMapping,
    spec: Extract,
    delivery: Delivery,
    tmp: Path,
    report: MappingCheck,
) -> None:
    out = report.lines
    out.append(f"\n{spec.name}: {scrub(delivery.file)}")
    try:
        raw = read_table(con, delivery, f"c_{spec.name}", tmp)
        mapped, version = mapping.apply(con, delivery, raw)
    except UnreadableFileError as exc:
        report.refused += 1
        out.append(f"  refused: {scrub(str(exc))}")
        return
    report.read += 1
    if version is None:
        out.append("  not recognised by the mapping (no mapped header or file name): read as the contract")
    for column in spec.columns.values():
        if column.name in mapped.columns:
            source = raw.columns[mapped.columns.index(column.name)]
            out.append(f"  {column.name} <- '{scrub(source)}'")
        elif column.required:
            report.missing_columns += 1
            out.append(
                f"  {column.name}: MISSING (required); add its header under extracts.{spec.name}.columns"
            )
        else:
            out.append(f"  {column.name}: not delivered (optional)")
    extras = [raw.columns[i] for i, c in enumerate(mapped.columns) if c not in spec.columns]
    for extra in extras:
        out.append(f"  '{scrub(extra)}': not a contract column (kept in _extra); map it if it is one")
    for column in spec.columns.values():
        if column.type == "code" and column.name in mapped.columns:
            source = raw.columns[mapped.columns.index(column.name)]
            _check_codes(con, raw, mapped, source, spec, column.name, column.codes or [], report)


def _check_codes(
    con: duckdb.DuckDBPyConnection,
    raw: RawTable,
    mapped: RawTable,
    source: str,
    spec: Extract,
    column: str,
    codes: list[str],
    report: MappingCheck,
) -> None:
    """Each distinct delivered value of a code column, what it becomes and how often."""
    if mapped.relation == raw.relation:
        sql = (
            f"SELECT clean_text({ident(source)}) AS v, clean_text({ident(source)}) AS m, count(*) "
            f"FROM {ident(raw.relation)} GROUP BY ALL"
        )
    else:
        sql = (
            f"SELECT clean_text(r.{ident(source)}) AS v, clean_text(m.{ident(column)}) AS m, count(*) "
            f"FROM {ident(raw.relation)} r JOIN {ident(mapped.relation)} m USING ({ROW_NUMBER}) GROUP BY ALL"
        )
    rows = con.execute(f"{sql} ORDER BY 3 DESC, 1 LIMIT {_SHOWN_VALUES + 1}").fetchall()
    allowed = {c.lower() for c in codes}
    key = f"extracts.{spec.name}.codes.{column}"
    report.lines.append(f"  {column} values:")
    for value, result, count in rows[:_SHOWN_VALUES]:
        if value is None:
            continue
        shown = f"    '{scrub(value)}' ({count:,} rows)"
        if result is not None and result.lower() in allowed:
            arrow = "is a contract code" if value.lower() == result.lower() else f"-> {result.lower()}"
            report.lines.append(f"{shown} {arrow}")
        else:
            report.unmapped_values += 1
            report.lines.append(f"{shown} UNMAPPED: add it under {key} (one of: {', '.join(codes)})")
    if len(rows) > _SHOWN_VALUES:
        report.lines.append(
            f"    … more than {_SHOWN_VALUES} distinct values in {column}: is it a code column?"
        )
