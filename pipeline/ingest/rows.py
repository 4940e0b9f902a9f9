"""Typed parsing and the row rules of the contract, generated as SQL from extracts.yaml.

Nothing here lists an extract's columns or codes: each column's type and rules in the
contract become a parse expression and a check, so a contract change needs no code change.
Checks run in DuckDB over the whole file at once; a per-row Python loop could not keep up
with register extracts of millions of rows.

A row's first problem (types and required columns first, in column order, then the row
rules) becomes its quarantine reason; `mask_cpr` keeps any CPR-looking text out of it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline.contract import Column, Extract
from pipeline.ingest.dialects import ROW_NUMBER
from pipeline.ingest.pseudonym import CPR_TABLE, PERSONS_TABLE
from pipeline.ingest.sql import ident, literal

# Characters trimmed around every value: spaces, tabs, line ends and the no-break space
# spreadsheets like to leave behind.
_SPACES = ("' '", "chr(9)", "chr(10)", "chr(13)", "chr(160)")
_CPR_LIKE = r"'(^|[^0-9])([0-9]{6})-?[0-9]{4}([^0-9]|$)'"
_EDGE_SPACE = " OR ".join(f"{end}(s, {c})" for c in _SPACES for end in ("prefix", "suffix"))
MACROS = (
    # Twice, because one pass cannot mask two numbers separated by a single character.
    f"CREATE OR REPLACE TEMP MACRO mask_cpr(s) AS regexp_replace(regexp_replace(s, {_CPR_LIKE}, "
    rf"'\1\2-****\3', 'g'), {_CPR_LIKE}, '\1\2-****\3', 'g')",
    # A value without spaces at its ends is kept as it is: trim() copies every string and is
    # the most expensive step of a register extract otherwise.
    f"CREATE OR REPLACE TEMP MACRO clean_text(s) AS NULLIF(CASE WHEN {_EDGE_SPACE} "
    f"THEN trim(s, {' || '.join(_SPACES)}) ELSE s END, '')",
)
_DATE_SHAPE = (
    r"'[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}|[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}'"
)
_DATE_FORMATS = "['%Y-%m-%d', '%d-%m-%Y', '%d.%m.%Y']"
_MONTH_SHAPE = r"'[0-9]{4}-[0-9]{1,2}'"
_FIRST_DAY_SHAPE = r"'[0-9]{4}-[0-9]{1,2}-0?1'"
_INT_SHAPE = r"'[+-]?[0-9]+([.,]0*)?'"
_DECIMAL_SHAPE = r"'[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)([eE][+-]?[0-9]+)?'"
_ISO_WEEK_SHAPE = r"'[0-9]{4}-?[Ww][0-9]{1,2}'"
_EXPECTED = {
    "int": "is not a whole number",
    "decimal": "is not a number (digits with ',' or '.' as decimal mark, no thousands separator)",
    "date": "is not a date (YYYY-MM-DD, DD-MM-YYYY or DD.MM.YYYY)",
    "month": "is not a month (YYYY-MM)",
    "week": "is not a week (a Monday as a date, or an ISO week YYYY-Www)",
}
_SHOWN_CHARS = 40
_NO_PROBLEM = "NULL::VARCHAR AS column_name, NULL::VARCHAR AS reason"


def text_col(name: str) -> str:
    """The trimmed text of a column (NULL when empty) in the parsed view."""
    return ident(f"t:{name}")


def value_col(name: str) -> str:
    """The typed value of a contract column in the parsed view."""
    return ident(f"p:{name}")


class Sql(str):
    """An SQL expression inside a sentence built by `say`; plain strings there are text."""


def say(*parts: str) -> str:
    """SQL concatenating text (quoted here) and Sql expressions into a reason sentence."""
    return " || ".join(part if isinstance(part, Sql) else literal(part) for part in parts if part)


def shown(text_sql: str) -> Sql:
    """A delivered value quoted in a reason, cut to a readable length."""
    return Sql(f"chr(39) || left({text_sql}, {_SHOWN_CHARS}) || chr(39)")


def as_text(value_sql: str) -> Sql:
    """A typed value in a reason (dates come out as YYYY-MM-DD)."""
    return Sql(f"CAST({value_sql} AS VARCHAR)")


def _iso_week_monday(t: str) -> str:
    """The Monday of ISO week `YYYY-Www` (NULL when the week does not exist in that year):
    week 1 is the week of 4 January."""
    year = f"CAST(left({t}, 4) AS INTEGER)"
    week = f"CAST(regexp_extract({t}, '[Ww]([0-9]+)$', 1) AS INTEGER)"
    jan4 = f"make_date({year}, 1, 4)"
    monday = f"({jan4} + CAST(7 * ({week} - 1) - (isodow({jan4}) - 1) AS INTEGER))"
    return f"CASE WHEN {week} BETWEEN 1 AND 53 AND isoyear({monday}) = {year} THEN {monday} END"


def _if_shaped(t: str, shape: str, value: str) -> str:
    """`value` when the text has the shape (a regular expression), else NULL: the shape check
    keeps DuckDB's lenient casts from accepting '1_000', '0x10' or a two-digit year."""
    return f"CASE WHEN regexp_full_match({t}, {shape}) THEN {value} END"


def _date(t: str, formats: str = _DATE_FORMATS) -> str:
    return f"CAST(try_strptime({t}, {formats}) AS DATE)"


def _any_date(t: str) -> str:
    """A date in any accepted format. YYYY-MM-DD, by far the most common, is recognised by its
    length and dashes and cast directly; the regular expression is for the other formats."""
    iso = f"length({t}) = 10 AND {t}[5] = '-' AND {t}[8] = '-' AND {t}[1] BETWEEN '0' AND '9'"
    return f"CASE WHEN {iso} THEN TRY_CAST({t} AS DATE) ELSE {_if_shaped(t, _DATE_SHAPE, _date(t))} END"


def parse_expr(col: Column) -> str:
    """SQL turning the trimmed text into the typed value; NULL when it does not parse."""
    t = text_col(col.name)
    number = f"TRY_CAST(replace({t}, ',', '.') AS DOUBLE)"
    match col.type:
        case "text" | "cpr":
            return t
        case "code":
            return f"CASE WHEN list_contains({_code_list(col)}, lower({t})) THEN lower({t}) END"
        case "int":
            return _if_shaped(t, _INT_SHAPE, f"TRY_CAST({number} AS INTEGER)")
        case "decimal":
            return _if_shaped(t, _DECIMAL_SHAPE, number)
        case "date":
            return _any_date(t)
        case "month":
            # YYYY-MM, or the first of the month as a date (what Excel and Parquet make of it)
            year_month = _if_shaped(t, _MONTH_SHAPE, _date(f"{t} || '-01'", "'%Y-%m-%d'"))
            first_day = _if_shaped(t, _FIRST_DAY_SHAPE, _date(t, "'%Y-%m-%d'"))
            return f"coalesce({year_month}, {first_day})"
        case "week":
            iso_week = _if_shaped(t, _ISO_WEEK_SHAPE, _iso_week_monday(t))
            return f"coalesce({iso_week}, {_any_date(t)})"
    raise ValueError(f"column type {col.type} has no parser")


@dataclass(frozen=True)
class Check:
    """A condition on the parsed view that marks a row bad, and the reason (SQL text)."""

    column: str
    condition: str
    reason: str


def type_checks(col: Column) -> list[Check]:
    """Required, parseable, in the vocabulary, of the right form."""
    name, t, p = col.name, text_col(col.name), value_col(col.name)
    checks = []
    if col.required:
        checks.append(Check(name, f"{t} IS NULL", say(f"{name} is missing (required)")))
    if col.type == "cpr":
        problem = say("invalid CPR ", Sql("cpr_masked"), ": ", Sql("cpr_problem"))
        checks.append(Check(name, f"{t} IS NOT NULL AND cpr_problem IS NOT NULL", problem))
    elif col.type == "code":
        allowed = ", ".join(col.codes or [])
        problem = say(f"unknown {name} ", shown(t), f" (allowed: {allowed})")
        checks.append(Check(name, f"{t} IS NOT NULL AND {p} IS NULL", problem))
    elif col.type in _EXPECTED:
        problem = say(f"{name} ", shown(t), f" {_EXPECTED[col.type]}")
        checks.append(Check(name, f"{t} IS NOT NULL AND {p} IS NULL", problem))
    if col.pattern:
        problem = say(f"{name} ", shown(t), f" does not have the required form {col.pattern}")
        checks.append(
            Check(name, f"{t} IS NOT NULL AND NOT regexp_full_match({t}, {literal(col.pattern)})", problem)
        )
    if col.type == "week" or col.weekday == "monday":
        problem = say(f"{name} ", as_text(p), " is a ", Sql(f"dayname({p})"), ", not a Monday")
        checks.append(Check(name, f"isodow({p}) <> 1", problem))
    return checks


def rule_checks(col: Column) -> list[Check]:
    """Bounds and the rules that compare a column with another one of the same row."""
    name, t, p = col.name, Sql(text_col(col.name)), value_col(col.name)
    checks = []
    if col.min is not None:
        checks.append(
            Check(name, f"{p} < {col.min}", say(f"{name} ", t, f" is below the minimum {col.min:g}"))
        )
    if col.min_exclusive is not None:
        bound = col.min_exclusive
        checks.append(Check(name, f"{p} <= {bound}", say(f"{name} ", t, f" must be more than {bound:g}")))
    if col.max is not None:
        checks.append(
            Check(name, f"{p} > {col.max}", say(f"{name} ", t, f" is above the maximum {col.max:g}"))
        )
    if other := col.not_before:
        problem = say(f"{name} ", as_text(p), f" is before {other} ", as_text(value_col(other)))
        checks.append(Check(name, f"{p} < {value_col(other)}", problem))
    if other := col.not_above:
        problem = say(f"{name} ", t, f" is above {other} ", Sql(text_col(other)))
        checks.append(Check(name, f"{p} > {value_col(other)}", problem))
    if other := col.required_if_set:
        problem = say(f"{name} is missing; it is required when {other} is set (", shown(text_col(other)), ")")
        checks.append(Check(name, f"{t} IS NULL AND {text_col(other)} IS NOT NULL", problem))
    return checks


def all_checks(extract: Extract) -> list[Check]:
    """Every check of an extract in the order the first failing one is reported."""
    columns = list(extract.columns.values())
    return [c for col in columns for c in type_checks(col)] + [c for col in columns for c in rule_checks(col)]


def free_text(extract: Extract, col: Column) -> bool:
    """Text that is not an id: masked for CPR-looking numbers before it is stored, since a
    caseworker may type anything into a free-text field. Ids are stored as delivered."""
    return col.type == "text" and col.name not in extract.key and col.name not in extract.references


def _code_list(col: Column) -> str:
    return "[" + ", ".join(literal(code.lower()) for code in col.codes or []) + "]"


def _stored(col: Column) -> str:
    """A typed value as the typed table keeps it: a code as its position in the vocabulary
    (one byte instead of a string, which matters for 100 million benefit weeks)."""
    if col.type == "code":
        position = f"list_position({_code_list(col)}, {value_col(col.name)})"
        small = "UTINYINT" if len(col.codes or []) < 2**8 else "USMALLINT"
        return f"CAST({position} AS {small}) AS {value_col(col.name)}"
    return value_col(col.name)


def _loaded(col: Column) -> str:
    """The landing value of a stored typed value: a code back from its position."""
    return f"{_code_list(col)}[{value_col(col.name)}]" if col.type == "code" else value_col(col.name)


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
        values = [_stored(c) for c in self.extract.columns.values() if c.type != "cpr"]
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
        return f"CAST({_loaded(self.extract.column(column))} AS VARCHAR)"

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
                values.append((col.name, _loaded(col)))
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
