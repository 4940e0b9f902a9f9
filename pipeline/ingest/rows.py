"""The SQL of one delivery: parse, pseudonymise and check it in one pass, find repeated keys,
and select what goes to landing and to quarantine.

Checks run in DuckDB over the whole file at once; a per-row Python loop could not keep up
with register extracts of millions of rows."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.contract import Extract
from pipeline.ingest.checks import (
    all_checks,
    free_text,
    loaded_value,
    parse_expr,
    stored_value,
    text_col,
    value_col,
)
from pipeline.ingest.dialects import ROW_NUMBER
from pipeline.ingest.pseudonym import CPR_TABLE, PERSONS_TABLE
from pipeline.ingest.sql import ident, literal

_NO_PROBLEM = "NULL::VARCHAR AS column_name, NULL::VARCHAR AS reason"


@dataclass(frozen=True)
class FileQueries:
    """The SQL of one delivery. `source` is the text table of dialects.read_table, `name` the
    prefix of this file's temporary tables.

    The file is parsed, pseudonymised and checked in one pass into the `typed` table (typed
    values, the person id instead of the CPR, the first problem of each row); counting,
    duplicate detection and loading then read that table instead of parsing again."""

    extract: Extract
    source: str
    columns: list[str]  # header names of the file
    name: str

    def __post_init__(self) -> None:
        if sum(c.type == "cpr" for c in self.extract.columns.values()) > 1:
            raise ValueError(f"{self.extract.name}: ingestion supports one CPR column per extract")

    @property
    def typed(self) -> str:
        return ident(f"{self.name}_typed")

    @property
    def extras(self) -> list[str]:
        return [c for c in self.columns if c not in self.extract.columns]

    @property
    def cpr_column(self) -> str | None:
        return next((c.name for c in self.extract.columns.values() if c.type == "cpr"), None)

    def _trim(self, column: str) -> str:
        return f"clean_text(src.{ident(column)})"

    def cpr_values(self) -> str:
        """Query of the distinct trimmed CPR values (column v), for the pseudonym cache."""
        return f"SELECT DISTINCT {self._trim(self.cpr_column or '')} AS v FROM {ident(self.source)} src"

    def _trimmed(self) -> str:
        """Trimmed text of every header column, NULL for empty; contract columns the file
        lacks are NULL. Rows with nothing in them are left out (spreadsheet residue)."""
        texts = [
            f"{self._trim(c) if c in self.columns else 'NULL::VARCHAR'} AS {text_col(c)}"
            for c in [*self.extract.columns, *self.extras]
        ]
        present = ", ".join(text_col(c) for c in self.columns)
        return (
            f"(SELECT * FROM (SELECT {ROW_NUMBER}, {', '.join(texts)} FROM {ident(self.source)} src) "
            f"WHERE coalesce({present}) IS NOT NULL)"
        )

    def _parsed(self) -> str:
        """Text, typed values, the CPR's person id and problem, extra columns as JSON."""
        parsed = [f"{parse_expr(col)} AS {value_col(col.name)}" for col in self.extract.columns.values()]
        if cpr := self.cpr_column:
            join = f"LEFT JOIN {CPR_TABLE} k ON k.raw = s.{text_col(cpr)}"
            keyed = "k.pid, k.problem AS cpr_problem, k.masked AS cpr_masked"
        else:
            join, keyed = "", "NULL::INTEGER AS pid"
        extra = ", ".join(f"{literal(c)}, mask_cpr({text_col(c)})" for c in self.extras)
        return (
            f"(SELECT s.*, {', '.join(parsed)}, {keyed}, json_object({extra}) AS _extra "
            f"FROM {self._trimmed()} s {join})"
        )

    @property
    def _extra(self) -> str:
        """The extra columns as JSON in the typed table; NULL (and no column) without any."""
        return "_extra" if self.extras else "NULL::VARCHAR"

    def create_typed(self) -> str:
        """The one pass over the file: typed values and the number of each row's first
        failing check (NULL when the row is good). Only that number is kept, not the reason:
        the table holds every row of a register extract, the reasons are rebuilt for the few
        bad ones (bad_records)."""
        failed = ", ".join(
            f"CASE WHEN {c.condition} THEN {i} END" for i, c in enumerate(all_checks(self.extract))
        )
        values = [stored_value(c) for c in self.extract.columns.values() if c.type != "cpr"]
        extra = ", _extra" if self.extras else ""
        return (
            f"CREATE OR REPLACE TEMP TABLE {self.typed} AS "
            f"SELECT CAST({ROW_NUMBER} AS INTEGER) AS {ROW_NUMBER}, "
            f"{', '.join(values)}, pid{extra}, CAST(coalesce({failed}) AS SMALLINT) AS failed "
            f"FROM {self._parsed()}"
        )

    def _key_values(self) -> list[str]:
        """The business key; a person is its id, the same whichever way the CPR was written."""
        return ["pid" if self.extract.column(k).type == "cpr" else value_col(k) for k in self.extract.key]

    @property
    def repeated(self) -> str:
        return ident(f"{self.name}_repeated")

    def create_repeated(self) -> str:
        """The hashes of keys that occur more than once among the good rows: a plain grouping
        on one integer, cheap even for a register extract. A hash collision only makes the
        exact search of create_duplicates look at a few rows for nothing."""
        keys = ", ".join(self._key_values())
        return (
            f"CREATE OR REPLACE TEMP TABLE {self.repeated} AS SELECT hash({keys}) AS key_hash "
            f"FROM {self.typed} WHERE failed IS NULL GROUP BY ALL HAVING count(*) > 1"
        )

    def counts(self) -> str:
        """Rows read, rows failing a check, hashes of repeated keys."""
        return (
            f"SELECT (SELECT count(*) FROM {self.typed}), (SELECT count(failed) FROM {self.typed}), "
            f"(SELECT count(*) FROM {self.repeated})"
        )

    def _persons_join(self) -> str:
        return f"LEFT JOIN {PERSONS_TABLE} USING (pid)" if self.cpr_column else ""

    @property
    def duplicates(self) -> str:
        return ident(f"{self.name}_duplicates")

    def create_duplicates(self, any_repeated_key: bool) -> str:
        """The later rows of a repeated key among the good rows, with their reason: an exact
        duplicate names the first equal row, otherwise the first row with that key (which is
        the one loaded). Empty, without a search, when no key repeats."""
        create = f"CREATE OR REPLACE TEMP TABLE {self.duplicates} AS "
        if not any_repeated_key:
            return create + f"SELECT NULL::INTEGER AS {ROW_NUMBER}, {_NO_PROBLEM} WHERE false"
        keys = ", ".join(self._key_values())
        extra = ["_extra"] if self.extras else []
        content = ", ".join([*self._key_values(), *(value_col(c) for c in self._non_key_columns()), *extra])
        key_text = " || ', ' || ".join(f"'{k} ' || {self._key_text(k)}" for k in self.extract.key)
        good = f"SELECT * FROM {self.typed} WHERE failed IS NULL"
        return f"""{create}
            SELECT {ROW_NUMBER}, {literal(", ".join(self.extract.key))} AS column_name,
                CASE WHEN first_equal < {ROW_NUMBER} THEN 'exact duplicate of row ' || first_equal
                     ELSE 'same ' || key_text || ' as row ' || first_of_key || ', with other values'
                END AS reason
            FROM (
                SELECT {ROW_NUMBER}, {key_text} AS key_text,
                    min({ROW_NUMBER}) OVER (PARTITION BY {keys}) AS first_of_key,
                    min({ROW_NUMBER}) OVER (PARTITION BY {content}) AS first_equal
                FROM ({good}) {self._persons_join()}
                WHERE hash({keys}) IN (SELECT key_hash FROM {self.repeated})
            )
            WHERE {ROW_NUMBER} > first_of_key"""

    def _key_text(self, column: str) -> str:
        """A key value as a reason shows it: a CPR masked, a month as YYYY-MM."""
        match self.extract.column(column).type:
            case "cpr":
                return "masked"
            case "month":
                return f"strftime({value_col(column)}, '%Y-%m')"
        return f"CAST({loaded_value(self.extract.column(column))} AS VARCHAR)"

    def _non_key_columns(self) -> list[str]:
        return [
            c.name
            for c in self.extract.columns.values()
            if c.type != "cpr" and c.name not in self.extract.key
        ]

    def landing_values(self) -> list[tuple[str, str]]:
        """(landing column, SQL over typed joined to persons) of the contract columns, in
        landing order, then _row_number and _extra."""
        values: list[tuple[str, str]] = []
        for col in self.extract.columns.values():
            if col.type == "cpr":
                values += [("person_key", "person_key"), ("birth_date", "birth_date"), ("sex", "sex")]
            elif free_text(self.extract, col):
                values.append((col.name, f"mask_cpr({value_col(col.name)})"))
            else:
                values.append((col.name, loaded_value(col)))
        return [*values, (ROW_NUMBER, ROW_NUMBER), ("_extra", self._extra)]

    def good_rows(self) -> str:
        """FROM clause of the rows to load: no failed check, not a later duplicate."""
        return (
            f"FROM {self.typed} ANTI JOIN {self.duplicates} USING ({ROW_NUMBER}) {self._persons_join()} "
            "WHERE failed IS NULL"
        )

    @property
    def bad(self) -> str:
        return ident(f"{self.name}_bad")

    def create_bad(self) -> list[str]:
        """Statements making `bad` (row number, the number of the failed check, or the reason
        of a repeated key) and the bad rows' text (`<name>_bad_source`), so that rebuilding
        reasons and records costs what the bad rows cost, not what the file costs."""
        return [
            f"CREATE OR REPLACE TEMP TABLE {self.bad} AS "
            f"SELECT {ROW_NUMBER}, failed, {_NO_PROBLEM} FROM {self.typed} WHERE failed IS NOT NULL "
            f"UNION ALL SELECT {ROW_NUMBER}, NULL, column_name, reason FROM {self.duplicates}",
            f"CREATE OR REPLACE TEMP TABLE {ident(self.name + '_bad_source')} AS "
            f"SELECT * FROM {ident(self.source)} WHERE {ROW_NUMBER} IN (SELECT {ROW_NUMBER} FROM {self.bad})",
        ]

    def bad_records(self) -> str:
        """Query of the quarantined rows: row number, failing column and reason, and the row
        as JSON (values trimmed), the CPR replaced by its person_key and CPR-looking text
        elsewhere masked: what a person needs to find and fix the row. A failed check's
        reason is built from its number in `failed`, on the bad rows only (create_bad)."""
        only_bad = replace(self, source=f"{self.name}_bad_source")
        checks = all_checks(self.extract)
        columns = "[" + ", ".join(literal(c.column) for c in checks) + "]"
        reasons = " ".join(f"WHEN {i} THEN {c.reason}" for i, c in enumerate(checks))
        pairs = ", ".join(
            f"{literal(c)}, " + ("person_key" if c == self.cpr_column else f"mask_cpr(parsed.{text_col(c)})")
            for c in self.columns
        )
        return f"""
            SELECT {ROW_NUMBER}, coalesce({columns}[bad.failed + 1], bad.column_name) AS column_name,
                mask_cpr(coalesce(CASE bad.failed {reasons} END, bad.reason)) AS reason,
                json_object({pairs}) AS record
            FROM {only_bad._parsed()} parsed JOIN {self.bad} bad USING ({ROW_NUMBER})
            {self._persons_join()}"""
