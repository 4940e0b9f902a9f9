"""The input contract (raw-extracts.md) loaded from extracts.yaml as validated models.

Every part of the pipeline that needs to know an extract's columns, keys or codes asks
this module, so that the contract is stated once."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

ColumnType = Literal["text", "int", "decimal", "date", "month", "week", "cpr", "code"]
CONTRACT_FILE = Path(__file__).with_name("extracts.yaml")


class Continues(BaseModel):
    """The rule of a column naming another row of its own extract: that row exists (in the
    same or an earlier delivery) and `column` of its newest version is `code`."""

    model_config = ConfigDict(extra="forbid")

    column: str
    code: str


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    type: ColumnType
    required: bool = False
    codes: list[str] | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    min_exclusive: float | None = None
    not_before: str | None = None
    not_above: str | None = None
    required_if_set: str | None = None
    weekday: Literal["monday"] | None = None
    continues: Continues | None = None

    @model_validator(mode="after")
    def _codes_for_code_columns(self) -> Column:
        if (self.type == "code") != (self.codes is not None):
            raise ValueError(f"column {self.name}: 'codes' goes with type code, and only there")
        return self


class Extract(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    danish: str
    key: list[str]
    references: dict[str, str] = {}
    columns: dict[str, Column]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns.values() if c.required]

    @property
    def has_cpr(self) -> bool:
        return any(c.type == "cpr" for c in self.columns.values())

    def column(self, name: str) -> Column:
        return self.columns[name]


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: dict[str, list[str]] = {}
    extracts: dict[str, Extract]

    @model_validator(mode="after")
    def _fill_names(self) -> Contract:
        for ename, extract in self.extracts.items():
            extract.name = ename
            for cname, column in extract.columns.items():
                column.name = cname
            for col in extract.key:
                if col not in extract.columns:
                    raise ValueError(f"{ename}: key column {col} is not a column")
            for column in extract.columns.values():
                if column.continues:
                    _check_continues(extract, column)
        return self


def _check_continues(extract: Extract, column: Column) -> None:
    """A `continues` rule needs a single-column key and a code column that has the code."""
    rule = column.continues
    assert rule is not None
    target = extract.columns.get(rule.column)
    if len(extract.key) != 1 or column.type != "text":
        raise ValueError(f"{extract.name}.{column.name}: continues needs a text column and a one-column key")
    if target is None or rule.code not in (target.codes or []):
        raise ValueError(
            f"{extract.name}.{column.name}: continues names {rule.column} = {rule.code}, not a code there"
        )


@cache
def load_contract(path: Path = CONTRACT_FILE) -> Contract:
    """The contract, parsed once per process."""
    with open(path, encoding="utf-8") as fh:
        return Contract.model_validate(yaml.safe_load(fh))


def extract_names() -> list[str]:
    """Extract names in load order: parents before the children that reference them."""
    return list(load_contract().extracts)
