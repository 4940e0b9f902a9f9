"""Writing output files so that a reader never sees half of one."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` to a temporary name beside `path`, then rename it over `path`: a browser or
    an index that opens the file meanwhile sees the old file or the new one, never a torn one
    (a rename within one folder is atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
