"""Small helpers for writing SQL text safely: names and values from a delivery's header or
the contract are quoted here, never pasted raw into a statement."""

from __future__ import annotations


def ident(name: str) -> str:
    """A quoted identifier (a header may hold spaces, quotes or a keyword)."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A quoted string literal."""
    return "'" + value.replace("'", "''") + "'"
