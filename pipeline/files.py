"""Writing output files so that a reader never sees half of one: every file provmon writes
(pages, workbooks, charts, Parquet marts) is written through `atomic_path`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` to write to; when the block ends without an error it is
    renamed over `path`, and in any case it is gone afterwards. A browser, a BI tool or an index
    that opens the file meanwhile sees the old file or the new one, never a torn one (a rename
    within one folder is atomic). The temporary name keeps the suffix, for writers that go by it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
