"""Small helpers for writing SQL text safely (names and values from a delivery's header or
the contract are quoted here, never pasted raw into a statement), and the SQL macros every
ingestion query may use."""

from __future__ import annotations


def ident(name: str) -> str:
    """A quoted identifier (a header may hold spaces, quotes or a keyword)."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A quoted string literal."""
    return "'" + value.replace("'", "''") + "'"


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
