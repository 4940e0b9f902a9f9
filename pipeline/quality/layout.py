"""What the checks need to know about a landing table, derived from the input contract and the
warehouse layout (docs/warehouse.md), never restated: columns and types, key, required,
date, bounded and code columns, and the references to parent extracts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from pipeline.contract import Column, Extract, load_contract
from pipeline.warehouse import CPR_COLUMNS, landing_columns

# A CPR column becomes person_key, birth_date and sex in landing; the pseudonym stands for the
# CPR wherever the contract names it (keys, required columns).
CPR_DERIVED = [name for name, _ in CPR_COLUMNS]
PSEUDONYM, BIRTH_DATE = CPR_DERIVED[0], CPR_DERIVED[1]
DATE_TYPES = ("date", "month", "week")
NUMBER_TYPES = ("int", "decimal")


def landing_name(column: Column) -> str:
    """The landing column that holds a contract column."""
    return PSEUDONYM if column.type == "cpr" else column.name


@dataclass(frozen=True)
class Reference:
    """child.column must exist as parent_extract.parent_column (contract `references`)."""

    column: str
    parent_extract: str
    parent_column: str


@dataclass(frozen=True)
class LandingTable:
    extract: Extract

    @property
    def name(self) -> str:
        return self.extract.name

    @cached_property
    def columns(self) -> list[tuple[str, str]]:
        """(name, DuckDB type) in the order of docs/warehouse.md."""
        return landing_columns(self.extract)

    @property
    def key(self) -> list[str]:
        return [landing_name(self.extract.column(c)) for c in self.extract.key]

    @property
    def required(self) -> list[str]:
        """Landing columns that are never empty: the contract's required columns, and for a
        CPR column everything ingestion derives from it."""
        out: list[str] = []
        for col in self.extract.columns.values():
            if col.required:
                out += CPR_DERIVED if col.type == "cpr" else [col.name]
        return out

    @property
    def optional(self) -> list[str]:
        """Contract columns a delivery may leave empty."""
        return [landing_name(c) for c in self.extract.columns.values() if not c.required]

    @property
    def dates(self) -> list[str]:
        """Date columns, birth_date (derived from the CPR) included."""
        out: list[str] = []
        for col in self.extract.columns.values():
            if col.type in DATE_TYPES:
                out.append(col.name)
            elif col.type == "cpr":
                out.append(BIRTH_DATE)
        return out

    @property
    def bounded_numbers(self) -> list[Column]:
        """Numeric contract columns with a lower or upper bound."""
        return [
            c
            for c in self.extract.columns.values()
            if c.type in NUMBER_TYPES
            and (c.min is not None or c.max is not None or c.min_exclusive is not None)
        ]

    @property
    def codes(self) -> dict[str, list[str]]:
        """Code columns and their vocabulary (lower-case, as landing stores them)."""
        return {c.name: [v.lower() for v in c.codes or []] for c in self.extract.columns.values() if c.codes}

    @property
    def references(self) -> list[Reference]:
        out = []
        for column, target in self.extract.references.items():
            parent_extract, parent_column = target.split(".", 1)
            out.append(Reference(column, parent_extract, parent_column))
        return out


def landing_tables() -> list[LandingTable]:
    """Every landing table, in the contract's load order."""
    return [LandingTable(e) for e in load_contract().extracts.values()]
