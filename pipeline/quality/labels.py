"""Danish names of extracts, columns, tables and verbs for what a person reads about data
quality (labels.yaml), with the technical name kept beside them for the analyst.

The data-quality page and the follow-up report's "Datakvalitet" section are read by people
who know the registers by their Danish names; the warehouse speaks in extract and column
names. Each label here is the bridge, validated on load so that a missing name fails a test
rather than showing a raw identifier."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.contract import load_contract
from pipeline.errors import ConfigError

LABELS_FILE = Path(__file__).with_name("labels.yaml")
WHOLE_ROW = "hele rækken"


class Labels(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: dict[str, str]
    tables: dict[str, str]
    verbs: dict[str, str]
    severities: dict[str, str]

    def extract(self, name: str) -> str:
        """The Danish name of an extract (the contract's `danish`), else the name itself."""
        extracts = load_contract().extracts
        return extracts[name].danish if name in extracts else name

    def table(self, name: str) -> str:
        """A warehouse table (`landing.referrals`, `fct_referral_outcomes`) in Danish."""
        schema, _, table = name.rpartition(".")
        if schema == "landing":
            return self.extract(table)
        return self.tables.get(name, name)

    def column(self, names: str | None) -> str:
        """One column or a comma-separated key (`referral_id, week_start`); None = the whole row."""
        if not names:
            return WHOLE_ROW
        return ", ".join(self.columns.get(n.strip(), n.strip()) for n in names.split(","))

    def verb(self, name: str) -> str:
        return self.verbs.get(name, name)

    def severity(self, name: str) -> str:
        return self.severities.get(name, name)


@cache
def load_labels(path: Path = LABELS_FILE) -> Labels:
    try:
        return Labels.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"{path}: {first}") from error
