"""The SQL of a batch of deliveries of one extract: parse, pseudonymise and check them in one
pass, find repeated keys, and select what goes to landing and to quarantine.

Checks run in DuckDB over whole files at once; a per-row Python loop could not keep up with
register extracts of millions of rows. Several small deliveries of an extract (a city sends
one a month) go through the same statements together: planning a statement costs more than
running it on a few thousand rows. A row is known by its file number in the batch (`_file`,
from 1) and its row number in that file."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.contract import Extract
from pipeline.cpr import scrub
from pipeline.ingest.checks import (
    all_checks,
    continuations,
    free_text,
    loaded_value,
    parse_expr,
    stored_value,
    text_col,
    value_col,
)
from pipeline.ingest.dialects import ROW_NUMBER
from pipeline.ingest.pseudonym import CPR_TABLE, PERSONS_TABLE
from pipeline.sql import ident, literal

FILE = "_file"
ROW = f"{FILE}, {ROW_NUMBER}"
_NO_PROBLEM = "NULL::VARCHAR AS column_name, NULL::VARCHAR AS reason"


@dataclass(frozen=True)
class BatchQueries:
    """The SQL of a batch. `files` holds each file's header names (file number = position +
    1); `source` names the view over the files' text tables that create_source makes; `name`
    prefixes the batch's temporary tables.

    The files are parsed, pseudonymised and checked in one pass into the `typed` table (typed
    values, the person id instead of the CPR, the number of each row's first failed check);
    counting, duplicate detection and loading then read that table instead of parsing again."""

    extract: Extract
    files: tuple[tuple[str, ...], ...]
    name: str
    source: str = ""

    def __post_init__(self) -> None:
        if sum(c.type == "cpr" for c in self.extract.columns.values()) > 1:
            raise ValueError(f"{self.extract.name}: ingestion supports one CPR column per extract")
        if not self.source:
            object.__setattr__(self, "source", f"{self.name}_source")

    def _table(self, suffix: str) -> str:
        return ident(f"{self.name}_{suffix}")

    @property
    def typed(self) -> str:
        return self._table("typed")

    @property
    def columns(self) -> list[str]:
        """Every header name of the batch, in the order first seen."""
        return list(dict.fromkeys(c for header in self.files for c in header))

    def _extras(self, header: tuple[str, ...] | list[str]) -> list[str]:
        return [c for c in header if c not in self.extract.columns]

    @property
    def extras(self) -> list[str]:
        return self._extras(self.columns)

    @property
    def cpr_column(self) -> str | None:
        return next((c.name for c in self.extract.columns.values() if c.type == "cpr"), None)

    def create_source(self, relations: list[str]) -> str:
        """The view of the files' text tables, one after the other, matched by column name (a
        column a file lacks is NULL there)."""
        parts = [f"SELECT {i}::SMALLINT AS {FILE}, * FROM {ident(rel)}" for i, rel in enumerate(relations, 1)]
        return f"CREATE OR REPLACE TEMP VIEW {ident(self.source)} AS {' UNION ALL BY NAME '.join(parts)}"

    def _trim(self, column: str) -> str:
        return f"clean_text(src.{ident(column)})"

    def cpr_values(self) -> str:
        """Query of the distinct trimmed CPR values (column v), for the pseudonym cache."""
        return f"SELECT DISTINCT {self._trim(self.cpr_column or '')} AS v FROM {ident(self.source)} src"

    def _trimmed(self) -> str:
        """Trimmed text of every header column, NULL for empty; contract columns no file has
        are NULL. Rows with nothing in them are left out (spreadsheet residue)."""
        columns = self.columns
        texts = [
            f"{self._trim(c) if c in columns else 'NULL::VARCHAR'} AS {text_col(c)}"
            for c in [*self.extract.columns, *self.extras]
        ]
        present = ", ".join(text_col(c) for c in columns)
        return (
            f"(SELECT * FROM (SELECT {ROW}, {', '.join(texts)} FROM {ident(self.source)} src) "
            f"WHERE coalesce({present}) IS NOT NULL)"
        )

    def _per_file(self, json_of: dict[str, str]) -> str:
        """A JSON object per row built from its own file's columns (`json_of` maps a column to
        its value's SQL), a CPR-like number in a column name masked; NULL for a file without
        any of them.

        One expression per distinct header, not per file: the monthly files of an extract
        share theirs, and every copy of the masking regular expressions costs planning and
        compiling in each thread, far more than the few bad rows it is applied to."""
        files_of: dict[tuple[str, ...], list[int]] = {}
        for i, header in enumerate(self.files, 1):
            files_of.setdefault(tuple(c for c in header if c in json_of), []).append(i)
        objects = {
            present: "json_object(" + ", ".join(f"{literal(scrub(c))}, {json_of[c]}" for c in present) + ")"
            for present in files_of
            if present
        }
        if not objects:
            return "NULL::VARCHAR"
        if len(files_of) == 1:  # every file of the batch: no case to tell
            return next(iter(objects.values()))
        cases = " ".join(
            f"WHEN {FILE} IN ({', '.join(map(str, files_of[present]))}) THEN {sql}"
            for present, sql in objects.items()
        )
        return f"CASE {cases} END"

    def _parsed(self) -> str:
        """Text, typed values, the CPR's person id and problem, extra columns as JSON."""
        parsed = [f"{parse_expr(col)} AS {value_col(col.name)}" for col in self.extract.columns.values()]
        if cpr := self.cpr_column:
            join = f"LEFT JOIN {CPR_TABLE} k ON k.raw = s.{text_col(cpr)}"
            keyed = "k.pid, k.problem AS cpr_problem, k.masked AS cpr_masked"
        else:
            join, keyed = "", "NULL::INTEGER AS pid"
        extra = self._per_file({c: f"mask_cpr({text_col(c)})" for c in self.extras})
        return (
            f"(SELECT s.*, {', '.join(parsed)}, {keyed}, {extra} AS _extra FROM {self._trimmed()} s {join})"
        )

    @property
    def _extra(self) -> str:
        """The extra columns as JSON in the typed table; NULL (and no column) without any."""
        return "_extra" if self.extras else "NULL::VARCHAR"

    def create_typed(self) -> str:
        """The one pass over the files: typed values and the number of each row's first
        failing check (NULL when the row is good). Only that number is kept, not the reason:
        the table holds every row of a register extract, the reasons are rebuilt for the few
        bad ones (create_quarantine)."""
        failed = " ".join(f"WHEN {c.condition} THEN {i}" for i, c in enumerate(all_checks(self.extract)))
        values = [stored_value(c) for c in self.extract.columns.values() if c.type != "cpr"]
        extra = ", _extra" if self.extras else ""
        return (
            f"CREATE OR REPLACE TEMP TABLE {self.typed} AS "
            f"SELECT {FILE}, CAST({ROW_NUMBER} AS INTEGER) AS {ROW_NUMBER}, "
            f"{', '.join(values)}, pid{extra}, CAST(CASE {failed} END AS SMALLINT) AS failed "
            f"FROM {self._parsed()}"
        )

    def _key_values(self) -> list[str]:
        """The business key within a file; a person is its id, whichever way the CPR was
        written."""
        return [
            FILE,
            *("pid" if self.extract.column(k).type == "cpr" else value_col(k) for k in self.extract.key),
        ]

    @property
    def repeated(self) -> str:
        return self._table("repeated")

    def create_repeated(self) -> str:
        """The hashes of keys that occur more than once in a file among the good rows: a plain
        grouping on one integer, cheap even for a register extract. A hash collision only
        makes the exact search of create_duplicates look at a few rows for nothing."""
        keys = ", ".join(self._key_values())
        return (
            f"CREATE OR REPLACE TEMP TABLE {self.repeated} AS SELECT hash({keys}) AS key_hash "
            f"FROM {self.typed} WHERE failed IS NULL GROUP BY ALL HAVING count(*) > 1"
        )

    def file_counts(self) -> str:
        """Per file: rows read (non-empty), rows failing a check, later rows of a repeated key."""
        return (
            f"SELECT {FILE}, count(*), count(failed), "
            f"(SELECT count(*) FROM {self.duplicates} d WHERE d.{FILE} = t.{FILE}) "
            f"FROM {self.typed} t GROUP BY {FILE}"
        )

    def source_counts(self) -> str:
        """Per file: rows in the text table, empty ones included."""
        return f"SELECT {FILE}, count(*) FROM {ident(self.source)} GROUP BY {FILE}"

    def _persons_join(self) -> str:
        return f"LEFT JOIN {PERSONS_TABLE} USING (pid)" if self.cpr_column else ""

    @property
    def duplicates(self) -> str:
        return self._table("duplicates")

    def create_duplicates(self, any_repeated_key: bool) -> str:
        """The later rows of a repeated key among a file's good rows, with their reason: an
        exact duplicate names the first equal row, otherwise the first row with that key
        (which is the one loaded). Empty, without a search, when no key repeats."""
        create = f"CREATE OR REPLACE TEMP TABLE {self.duplicates} AS "
        if not any_repeated_key:
            return (
                create
                + f"SELECT NULL::SMALLINT AS {FILE}, NULL::INTEGER AS {ROW_NUMBER}, {_NO_PROBLEM} WHERE false"
            )
        keys = ", ".join(self._key_values())
        extra = ["_extra"] if self.extras else []
        content = ", ".join([*self._key_values(), *(value_col(c) for c in self._non_key_columns()), *extra])
        key_text = " || ', ' || ".join(f"'{k} ' || {self._key_text(k)}" for k in self.extract.key)
        good = f"SELECT * FROM {self.typed} WHERE failed IS NULL"
        return f"""{create}
            SELECT {ROW}, {literal(", ".join(self.extract.key))} AS column_name,
                CASE WHEN first_equal < {ROW_NUMBER} THEN 'exact duplicate of row ' || first_equal
                     ELSE 'same ' || key_text || ' as row ' || first_of_key || ', with other values'
                END AS reason
            FROM (
                SELECT {ROW}, {key_text} AS key_text,
                    min({ROW_NUMBER}) OVER (PARTITION BY {keys}) AS first_of_key,
                    min({ROW_NUMBER}) OVER (PARTITION BY {content}) AS first_equal
                FROM ({good}) {self._persons_join()}
                WHERE hash({keys}) IN (SELECT key_hash FROM {self.repeated})
            )
            WHERE {ROW_NUMBER} > first_of_key"""

    def continuation_problems(self, landing: str) -> list[str]:
        """INSERTs adding to the `duplicates` table (the rows quarantined for a problem found
        across rows) the good rows whose continuation column (contract `continues`) names no
        row of this batch or of landing, names a row whose newest version lacks the code
        (a referral continuing one that did not end `rebooked`), or names the row itself. The
        named row's newest version is the batch's last (files are in delivery order), else the
        newest in landing: it may have arrived in an earlier delivery."""
        statements = []
        key = self.extract.key[0] if self.extract.key else ""
        for rule in continuations(self.extract):
            code = loaded_value(rule.code_column)
            good = (
                f"SELECT * FROM {self.typed} ANTI JOIN {self.duplicates} USING ({ROW}) WHERE failed IS NULL"
            )
            statements.append(f"""INSERT INTO {self.duplicates}
            WITH named_rows AS (
                SELECT {ROW}, {value_col(rule.column)} AS named, {value_col(key)} AS own
                FROM ({good}) WHERE {value_col(rule.column)} IS NOT NULL
            ),
            versions AS (
                SELECT {value_col(key)} AS k, {code} AS code, 1 AS in_batch, NULL::DATE AS delivered,
                    NULL::BIGINT AS load_id, {ROW}
                FROM ({good}) WHERE {value_col(key)} IN (SELECT named FROM named_rows)
                UNION ALL
                SELECT {ident(key)}, {ident(rule.code_column.name)}, 0, _delivery_date, _load_id,
                    0, {ROW_NUMBER}
                FROM {landing} WHERE {ident(key)} IN (SELECT named FROM named_rows)
            ),
            newest AS (
                SELECT k, code AS prev_code FROM versions
                QUALIFY row_number() OVER (PARTITION BY k ORDER BY in_batch DESC, delivered DESC NULLS LAST,
                    load_id DESC NULLS LAST, {FILE} DESC, {ROW_NUMBER} DESC) = 1
            )
            SELECT {ROW}, {literal(rule.column)},
                CASE WHEN named = own THEN {rule.itself}
                     WHEN k IS NULL THEN {rule.missing}
                     ELSE {rule.wrong} END
            FROM named_rows LEFT JOIN newest ON k = named
            WHERE named = own OR k IS NULL OR prev_code IS DISTINCT FROM {literal(rule.code)}""")
        return statements

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

    @property
    def deliveries(self) -> str:
        """The table the write phase fills: file number -> load_id, file name, delivery date,
        line offset (line number = row number + offset; NULL for Parquet)."""
        return self._table("deliveries")

    def create_deliveries(self) -> str:
        return (
            f"CREATE OR REPLACE TEMP TABLE {self.deliveries} ({FILE} SMALLINT, load_id BIGINT, "
            "file VARCHAR, delivery_date DATE, line_offset INTEGER)"
        )

    def landing_values(self) -> list[tuple[str, str]]:
        """(landing column, SQL over typed joined to deliveries and persons), in landing order."""
        values: list[tuple[str, str]] = []
        for col in self.extract.columns.values():
            if col.type == "cpr":
                values += [("person_key", "person_key"), ("birth_date", "birth_date"), ("sex", "sex")]
            elif free_text(self.extract, col):
                values.append((col.name, f"mask_cpr({value_col(col.name)})"))
            else:
                values.append((col.name, loaded_value(col)))
        meta = [("_load_id", "load_id"), ("_file", "file"), ("_delivery_date", "delivery_date")]
        return [*values, *meta, (ROW_NUMBER, ROW_NUMBER), ("_extra", self._extra)]

    def good_rows(self) -> str:
        """FROM clause of the rows to load: no failed check, not a later duplicate."""
        return (
            f"FROM {self.typed} ANTI JOIN {self.duplicates} USING ({ROW}) "
            f"JOIN {self.deliveries} USING ({FILE}) {self._persons_join()} WHERE failed IS NULL"
        )

    @property
    def bad(self) -> str:
        return self._table("bad")

    @property
    def quarantine(self) -> str:
        return self._table("quarantine")

    def create_quarantine(self) -> list[str]:
        """Statements making the `quarantine` table of the bad rows: file and row number,
        failing column and reason, and the row as JSON (values trimmed) with the CPR replaced
        by its person_key and CPR-looking text elsewhere masked: what a person needs to find
        and fix the row. The bad rows' text is copied out first and a failed check's reason
        is built from its number, so this costs what the bad rows cost, not the files."""
        bad_source = f"{self.name}_bad_source"
        only_bad = replace(self, source=bad_source)
        checks = all_checks(self.extract)
        columns = "[" + ", ".join(literal(c.column) for c in checks) + "]"
        reasons = " ".join(f"WHEN {i} THEN {c.reason}" for i, c in enumerate(checks))
        record = self._per_file(
            {
                c: "person_key" if c == self.cpr_column else f"mask_cpr(parsed.{text_col(c)})"
                for c in self.columns
            }
        )
        return [
            f"CREATE OR REPLACE TEMP TABLE {self.bad} AS "
            f"SELECT {ROW}, failed, {_NO_PROBLEM} FROM {self.typed} WHERE failed IS NOT NULL "
            f"UNION ALL SELECT {ROW}, NULL, column_name, reason FROM {self.duplicates}",
            f"CREATE OR REPLACE TEMP TABLE {ident(bad_source)} AS "
            f"SELECT src.* FROM {ident(self.source)} src SEMI JOIN {self.bad} bad USING ({ROW})",
            f"""CREATE OR REPLACE TEMP TABLE {self.quarantine} AS
            SELECT {ROW}, coalesce({columns}[bad.failed + 1], bad.column_name) AS column_name,
                mask_cpr(coalesce(CASE bad.failed {reasons} END, bad.reason)) AS reason,
                {record} AS record
            FROM {only_bad._parsed()} parsed JOIN {self.bad} bad USING ({ROW})
            {self._persons_join()}""",
        ]

    def quarantined_rows(self) -> str:
        """SELECT of the quarantine.rows columns for the batch's bad rows."""
        return (
            f"SELECT d.load_id, {literal(self.extract.name)}, d.file, q.{ROW_NUMBER}, "
            f"q.{ROW_NUMBER} + d.line_offset, q.column_name, q.reason, q.record, current_localtimestamp() "
            f"FROM {self.quarantine} q JOIN {self.deliveries} d USING ({FILE})"
        )
