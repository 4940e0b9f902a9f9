"""Typed parsing and the row rules of the contract, generated as SQL from extracts.yaml.

Nothing here lists an extract's columns or codes: each column's type and rules in the
contract become a parse expression and a check, so a contract change needs no code change.
A row's first problem (types and required columns first, in column order, then the row
rules) becomes its quarantine reason, a sentence a person can act on."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.contract import Column, Extract
from pipeline.sql import ident, literal

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
    """A delivered value quoted in a reason, CPR-like numbers masked, then cut to a readable
    length (masked first, so that the cut cannot leave half a number that no longer looks
    like one)."""
    return Sql(f"chr(39) || left(mask_cpr({text_sql}), {_SHOWN_CHARS}) || chr(39)")


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


def _any_date(t: str, other_forms: str | None = None) -> str:
    """A date in any accepted format. YYYY-MM-DD, by far the most common, is recognised by its
    length and dashes and cast directly; the regular expression is for the other formats.
    `other_forms` (SQL, default the other date formats) is what a text not of that shape is
    tried as: a week column puts its ISO-week test there, behind the cheap date test."""
    iso = f"length({t}) = 10 AND {t}[5] = '-' AND {t}[8] = '-' AND {t}[1] BETWEEN '0' AND '9'"
    others = other_forms or _if_shaped(t, _DATE_SHAPE, _date(t))
    return f"CASE WHEN {iso} THEN TRY_CAST({t} AS DATE) ELSE {others} END"


def parse_expr(col: Column) -> str:
    """SQL turning the trimmed text into the typed value; NULL when it does not parse."""
    t = text_col(col.name)
    number = f"TRY_CAST(replace({t}, ',', '.') AS DOUBLE)"
    match col.type:
        case "text" | "cpr":
            return t
        case "code":
            return f"CASE WHEN list_contains({code_list(col)}, lower({t})) THEN lower({t}) END"
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
            # An ISO week (at most 8 characters) never has the 10 of YYYY-MM-DD, so testing
            # for the common date first, before any regular expression, changes no result.
            iso_week = _if_shaped(t, _ISO_WEEK_SHAPE, _iso_week_monday(t))
            return _any_date(t, f"coalesce({iso_week}, {_if_shaped(t, _DATE_SHAPE, _date(t))})")
    raise ValueError(f"column type {col.type} has no parser")


@dataclass(frozen=True)
class Check:
    """A condition on the parsed view that marks a row bad, and the reason (SQL text)."""

    column: str
    condition: str
    reason: str


def type_checks(col: Column, identifier: bool = False, extract: str = "") -> list[Check]:
    """Required, parseable, in the vocabulary, of the right form; an identifier (a key or
    reference of text) must not hold a CPR number, since ids are stored and published as
    delivered. An unknown code's reason names the site-mapping key that would map it
    (pipeline/ingest/mapping.py)."""
    name, t, p = col.name, text_col(col.name), value_col(col.name)
    checks = []
    if col.required:
        checks.append(Check(name, f"{t} IS NULL", say(f"{name} is missing (required)")))
    if identifier:
        problem = say(
            f"{name} ",
            shown(t),
            " holds a CPR number; an id must not hold personal data (ask the sender for the system's own id)",
        )
        checks.append(Check(name, f"holds_cpr({t})", problem))
    if col.type == "cpr":
        problem = say("invalid CPR ", Sql("cpr_masked"), ": ", Sql("cpr_problem"))
        checks.append(Check(name, f"{t} IS NOT NULL AND cpr_problem IS NOT NULL", problem))
    elif col.type == "code":
        allowed = ", ".join(col.codes or [])
        site = f"; or map it under extracts.{extract}.codes.{name} in the site mapping" if extract else ""
        problem = say(f"unknown {name} ", shown(t), f" (allowed: {allowed}{site})")
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
    typed = [c for col in columns for c in type_checks(col, identifier(extract, col), extract.name)]
    return typed + [c for col in columns for c in rule_checks(col)]


def identifier(extract: Extract, col: Column) -> bool:
    """Text that is a key or a reference: stored as delivered, so a row whose id holds a CPR
    number is quarantined instead."""
    refers = col.name in extract.references or col.continues is not None
    return col.type == "text" and (col.name in extract.key or refers)


@dataclass(frozen=True)
class Continuation:
    """A column naming another row of its extract (contract `continues`) and the SQL of the
    reasons a named row is not acceptable, over `named` (the delivered value) and `prev_code`
    (the named row's code in its newest version)."""

    column: str
    key: str
    code_column: Column
    code: str

    @property
    def missing(self) -> str:
        return say(
            f"{self.column} ",
            shown("named"),
            f" is not a {self.key} of this or an earlier delivery (a continuation must name the "
            "row it continues, delivered no later than itself)",
        )

    @property
    def wrong(self) -> str:
        return say(
            f"{self.column} ",
            shown("named"),
            f" names a row whose {self.code_column.name} is ",
            Sql("coalesce(chr(39) || prev_code || chr(39), 'empty')"),
            f", not {self.code} (only a row ended {self.code} is continued by another)",
        )

    @property
    def itself(self) -> str:
        return say(f"{self.column} ", shown("named"), f" is the row's own {self.key}")


def continuations(extract: Extract) -> list[Continuation]:
    """The columns of an extract that name another of its rows. They compare rows with each
    other and with landing, so they are checked after the row checks, on the good rows
    (BatchQueries.continuation_problems)."""
    return [
        Continuation(col.name, extract.key[0], extract.column(col.continues.column), col.continues.code)
        for col in extract.columns.values()
        if col.continues
    ]


def free_text(extract: Extract, col: Column) -> bool:
    """Text that is not an id: masked for CPR-like numbers before it is stored, since a
    caseworker may type anything into a free-text field. Ids are stored as delivered."""
    return col.type == "text" and not identifier(extract, col)


def code_list(col: Column) -> str:
    """A code column's vocabulary as an SQL list, lower case."""
    return "[" + ", ".join(literal(code.lower()) for code in col.codes or []) + "]"


def stored_value(col: Column) -> str:
    """A typed value as the typed table keeps it: a code as its position in the vocabulary
    (one byte instead of a string, which matters for 100 million benefit weeks)."""
    if col.type == "code":
        position = f"list_position({code_list(col)}, {value_col(col.name)})"
        small = "UTINYINT" if len(col.codes or []) < 2**8 else "USMALLINT"
        return f"CAST({position} AS {small}) AS {value_col(col.name)}"
    return value_col(col.name)


def loaded_value(col: Column) -> str:
    """The landing value of a stored typed value: a code back from its position."""
    return f"{code_list(col)}[{value_col(col.name)}]" if col.type == "code" else value_col(col.name)
