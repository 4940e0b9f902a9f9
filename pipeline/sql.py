"""Writing SQL text safely, in one place: every name and value pasted into a statement (a
delivery's header, a contract code, a file path, a key value) goes through these two, never raw."""

from __future__ import annotations


def ident(name: str) -> str:
    """A quoted identifier (a header may hold spaces, quotes or a keyword)."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(value: object) -> str:
    """A SQL literal: a number as it is, anything else (text, a path) quoted with its quotes
    doubled."""
    if isinstance(value, bool | int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"
