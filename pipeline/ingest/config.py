"""Ingestion's own settings (ingest.yaml), validated on load."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import ConfigError

CONFIG_FILE = Path(__file__).with_name("ingest.yaml")


class DuckDbResources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory_limit: str = Field("4GB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")
    threads: int | None = Field(None, ge=1)


class CommitWindow(BaseModel):
    """How many deliveries are checked and written together (whichever limit is reached
    first; a larger file goes alone): fewer statements and commits, at the price of holding
    their typed rows in memory at once."""

    model_config = ConfigDict(extra="forbid")

    files: int = Field(50, ge=1)
    rows: int = Field(2_000_000, ge=1)  # estimated before reading (dialects.estimated_rows)


class DeliveryNames(BaseModel):
    """What a delivery's name may say."""

    model_config = ConfigDict(extra="forbid")

    # days after today that a name's date may lie (a delivery is dated when it is exported)
    max_days_ahead: int = Field(31, ge=0)


class CsvReading(BaseModel):
    """How far reading a damaged CSV goes before the file is refused."""

    model_config = ConfigDict(extra="forbid")

    # lines whose quote runs over the line end into a broken row: each is quarantined and the
    # file read again without it (a full read each); beyond this many the file is refused
    max_runaway_quotes: int = Field(20, ge=0)


class IngestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duckdb: DuckDbResources = DuckDbResources()
    commit: CommitWindow = CommitWindow()
    deliveries: DeliveryNames = DeliveryNames()
    csv: CsvReading = CsvReading()


@cache
def load_config(path: Path = CONFIG_FILE) -> IngestConfig:
    """The configuration, parsed once per process; a broken file is a ConfigError."""
    try:
        with open(path, encoding="utf-8") as fh:
            return IngestConfig.model_validate(yaml.safe_load(fh) or {})
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
