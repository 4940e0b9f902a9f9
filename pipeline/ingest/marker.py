"""The generator's marker: which files of a raw folder `provmon generate` wrote.

The demo pseudonymisation key is published with the source, so a person_key made with it is
reversed to the CPR number in a fraction of a second (a birth date leaves at most 10,000
serial numbers to try). It may only ever touch synthetic data. The marker therefore lists
the sha256 of every file the generator wrote, in the format `sha256sum -c` checks, and the
demo key is accepted only when every file ingestion would read is listed there unchanged:
an empty marker, or one copied into a folder of real deliveries, is not enough."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.cpr import scrub
from pipeline.ingest.deliveries import file_hash, find_deliveries
from pipeline.ingest.mapping import find_mapping
from pipeline.settings import SYNTHETIC_MARKER

MARKER_HEAD = (
    "SYNTHETIC DATA - made by `provmon generate`. No real person, provider or CPR number.\n"
    "The CPR numbers are fictitious; the demo pseudonymisation key may be used for the files\n"
    "listed below, and only while they are unchanged (sha256; `sha256sum -c` checks them).\n\n"
)
_LISTED = re.compile(r"^([0-9a-f]{64})  (\S.*)$")


def write_marker(out: Path, skip: tuple[str, ...] = ()) -> None:
    """Write the marker of a folder the generator has just filled: the sha256 of every file
    in it (hidden files, the marker itself and `skip` at the top of the folder aside)."""
    lines = [
        f"{file_hash(path)}  {path.relative_to(out).as_posix()}"
        for path in sorted(out.rglob("*"))
        if path.is_file() and not _hidden(path, out) and path.name not in (SYNTHETIC_MARKER, *skip)
    ]
    (out / SYNTHETIC_MARKER).write_text(MARKER_HEAD + "\n".join(lines) + "\n", encoding="utf-8")


def unverified(raw_dir: Path) -> str | None:
    """Why the folder cannot be taken for one that `provmon generate` wrote (a phrase for a
    message), or None when every file ingestion would read in it is listed in the marker
    with its hash. Files listed but gone are fine: a folder may hold a part of a run."""
    marker = raw_dir / SYNTHETIC_MARKER
    if not marker.is_file():
        return scrub(f"{raw_dir} has no {SYNTHETIC_MARKER} of the generator")
    listed = dict(
        (m.group(2), m.group(1))
        for line in marker.read_text(encoding="utf-8", errors="replace").splitlines()
        if (m := _LISTED.match(line))
    )
    if not listed:
        return scrub(f"{marker} does not list the generator's files")
    # what ingestion would read, files named by the site mapping's patterns included
    deliveries, misnamed = find_deliveries(raw_dir, find_mapping(raw_dir))
    for path in sorted([d.path for d in deliveries] + [m.path for m in misnamed]):
        name = path.relative_to(raw_dir).as_posix()
        if name not in listed:
            return scrub(f"{name} is not among the files the generator wrote ({SYNTHETIC_MARKER})")
        if file_hash(path) != listed[name]:
            return scrub(f"{name} has changed since the generator wrote it")
    return None


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
