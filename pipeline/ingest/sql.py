"""The SQL macros every ingestion query may use (quoting names and values is pipeline/sql.py)."""

from __future__ import annotations

from pipeline.cpr import SQL_CPR_LIKE, SQL_MASK_REPLACEMENT, SQL_MASKED
from pipeline.sql import literal

# Characters trimmed around every value: spaces, tabs, line ends and the no-break space
# spreadsheets like to leave behind.
_SPACES = ("' '", "chr(9)", "chr(10)", "chr(13)", "chr(160)")
_MASKED = literal(SQL_MASKED)
_MASK = literal(SQL_MASK_REPLACEMENT)
_CPR_LIKE = literal(SQL_CPR_LIKE)
_EDGE_SPACE = " OR ".join(f"{end}(s, {c})" for c in _SPACES for end in ("prefix", "suffix"))
MACROS = (
    # CPR-like numbers masked (pipeline.cpr.scrub in SQL). Twice, because one pass cannot mask
    # two numbers separated by a single character; only when there is one, because testing
    # costs a third of replacing and almost no free text holds one.
    f"CREATE OR REPLACE TEMP MACRO mask_cpr(s) AS CASE WHEN regexp_matches(s, {_MASKED}) THEN "
    f"regexp_replace(regexp_replace(s, {_MASKED}, {_MASK}, 'g'), {_MASKED}, {_MASK}, 'g') ELSE s END",
    # Whether a text holds a CPR number in any form (pipeline.cpr.holds_cpr in SQL). Shorter
    # than ten characters it cannot, and that test costs far less than the expression.
    f"CREATE OR REPLACE TEMP MACRO holds_cpr(s) AS length(s) >= 10 AND regexp_matches(s, {_CPR_LIKE})",
    # A value without spaces at its ends is kept as it is: trim() copies every string and is
    # the most expensive step of a register extract otherwise.
    f"CREATE OR REPLACE TEMP MACRO clean_text(s) AS NULLIF(CASE WHEN {_EDGE_SPACE} "
    f"THEN trim(s, {' || '.join(_SPACES)}) ELSE s END, '')",
)
