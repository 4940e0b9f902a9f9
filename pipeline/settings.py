"""Where things are: the paths every verb shares, resolved once from CLI options,
environment and defaults (outputs.md), then passed explicitly."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

WAREHOUSE_ENV = "PROVMON_WAREHOUSE"
DEFAULT_WAREHOUSE = Path("data/warehouse.duckdb")
DEFAULT_RAW_DIR = Path("data/raw")
DEFAULT_MARTS_DIR = Path("data/marts")
DEFAULT_OUT_DIR = Path("reports")
# The marker the generator writes beside synthetic extracts; only then may the demo
# pseudonymisation key be used.
SYNTHETIC_MARKER = "SYNTHETIC_DATA.txt"
GROUND_TRUTH_FILE = "ground_truth.json"
# The site mapping (pipeline/ingest/mapping.py): at the repository root, or in the raw folder.
SITE_MAPPING_FILE = "provmon.yaml"


@dataclass(frozen=True)
class Settings:
    warehouse: Path
    raw_dir: Path
    marts_dir: Path
    out_dir: Path
    debug: bool = False
    config: Path | None = None  # the site mapping given with --config

    @classmethod
    def resolve(
        cls,
        warehouse: str | None = None,
        raw_dir: str | None = None,
        out_dir: str | None = None,
        marts_dir: str | None = None,
        debug: bool = False,
        config: str | None = None,
    ) -> Settings:
        wh = Path(warehouse or os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE)
        return cls(
            warehouse=wh,
            raw_dir=Path(raw_dir or DEFAULT_RAW_DIR),
            # Marts live beside the warehouse, so a demo folder is self-contained.
            marts_dir=Path(marts_dir) if marts_dir else wh.parent / "marts",
            out_dir=Path(out_dir or DEFAULT_OUT_DIR),
            debug=debug,
            config=Path(config) if config else None,
        )

    @property
    def is_synthetic(self) -> bool:
        return (self.raw_dir / SYNTHETIC_MARKER).exists()
