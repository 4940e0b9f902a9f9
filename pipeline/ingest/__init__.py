"""`provmon ingest`: load new raw deliveries into the warehouse, pseudonymised, with bad rows
in quarantine (raw-extracts.md, docs/warehouse.md).

The modules, in the order a file passes through them: deliveries (names, order, hash),
dialects (any accepted file as a text table), pseudonym (CPR -> person_key), checks (types
and row rules of the contract as SQL), rows (the statements of a batch of deliveries of one
extract), load (windows of deliveries, each file all or nothing, meta.loads). marker knows
which files `provmon generate` wrote, for the key rules of pseudonym.resolve_key. Settings in
ingest.yaml (config.py)."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from pipeline.cpr import scrub
from pipeline.errors import ProvmonError, UnreadableFileError
from pipeline.ingest.deliveries import Delivery, classify, find_deliveries
from pipeline.ingest.load import FileResult, IngestSession
from pipeline.ingest.mapping import find_mapping
from pipeline.ingest.pseudonym import resolve_key
from pipeline.settings import Settings
from pipeline.warehouse import record_run

__all__ = ["FileResult", "IngestSummary", "RefusedFilesError", "ingest", "ingest_file", "ingest_paths"]

log = logging.getLogger(__name__)


@dataclass
class IngestSummary:
    """The outcome of an ingest run; str() is the one-line summary the CLI prints."""

    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def _count(self, status: str) -> int:
        return sum(f.status == status for f in self.files)

    @property
    def refused(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "refused"]

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def __str__(self) -> str:
        return (
            f"ingest: {self._count('loaded')} files loaded, {self._count('skipped')} skipped, "
            f"{self._count('refused')} refused; {self.rows_read:,} rows read, {self.rows_loaded:,} loaded, "
            f"{self.rows_quarantined:,} quarantined; {self.seconds:.1f} s"
        )


class RefusedFilesError(ProvmonError):
    """Some files were refused; the others are loaded. Carries the run's summary."""

    def __init__(self, summary: IngestSummary) -> None:
        self.summary = summary
        problems = scrub("; ".join(f"{f.path.name}: {f.message}" for f in summary.refused))
        count = len(summary.refused)
        super().__init__(
            f"{count} file{'s' if count > 1 else ''} refused, nothing of {'them' if count > 1 else 'it'} "
            f"loaded ({problems}); the other files were loaded ({summary})"
        )


def ingest(settings: Settings) -> IngestSummary:
    """Load every delivery in settings.raw_dir that is not loaded yet, in delivery order.

    Raises RefusedFilesError at the end when a file was refused, after loading the others, so
    that the command exits non-zero while the good deliveries are not held back."""
    if not settings.raw_dir.is_dir():
        raise ProvmonError(f"the raw folder {settings.raw_dir} does not exist (set it with --raw-dir)")
    key = resolve_key(settings.raw_dir)
    with record_run(settings.warehouse, "ingest") as run:
        summary = ingest_paths(
            settings.warehouse, settings.raw_dir, key, progress=sys.stderr.isatty(), config=settings.config
        )
        run.summary = str(summary)
        if summary.refused:
            raise RefusedFilesError(summary)
    return summary


def ingest_paths(
    warehouse: Path, raw_dir: Path, key: bytes, progress: bool = False, config: Path | None = None
) -> IngestSummary:
    """The work of `ingest`, without the run log: find, order and load the deliveries, with
    the site mapping given (`config`) or found (mapping.find_mapping)."""
    started = time.perf_counter()
    mapping = find_mapping(raw_dir, config)
    if mapping:
        log.info("site mapping %s (version %s)", mapping.path, mapping.short_version)
    deliveries, misnamed = find_deliveries(raw_dir, mapping)
    summary = IngestSummary()
    with IngestSession(warehouse, key, mapping=mapping) as session:
        summary.files += [session.refuse_misnamed(m) for m in misnamed]
        for result in session.load(tqdm(deliveries, desc="ingest", unit="file", disable=not progress)):
            summary.files.append(result)
            log.debug("%s: %s", result.path.name, result)
    summary.seconds = time.perf_counter() - started
    return summary


def ingest_file(
    warehouse: Path, path: Path, key: bytes, raw_dir: Path | None = None, config: Path | None = None
) -> FileResult:
    """Load one delivery file (its name and folder must fit the contract, relative to raw_dir,
    by default the folder above the file's folder). Raises UnreadableFileError when the file
    is refused; the refusal is recorded in meta.loads first."""
    path = Path(path)
    raw_dir = raw_dir or path.parent.parent
    mapping = find_mapping(raw_dir, config)
    found = (mapping.delivery(path, raw_dir) if mapping else None) or classify(path, raw_dir)
    with IngestSession(warehouse, key, mapping=mapping) as session:
        result = (
            next(session.load([found])) if isinstance(found, Delivery) else session.refuse_misnamed(found)
        )
    if result.status == "refused":
        raise UnreadableFileError(scrub(f"{path.name}: {result.message}"))
    return result
