"""Finding the deliveries in the raw folder: `<raw_dir>/<extract>/<extract>_<YYYYMMDD>.<ext>`.

A file that does not follow the naming rule is refused rather than guessed at: the delivery
date in the name decides which row wins when a later delivery corrects an earlier one, so a
wrong name would silently change the results."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.contract import extract_names
from pipeline.cpr import scrub
from pipeline.ingest.config import load_config
from pipeline.settings import GROUND_TRUTH_FILE, SITE_MAPPING_FILE, SYNTHETIC_MARKER

if TYPE_CHECKING:
    from pipeline.ingest.mapping import SiteMapping

log = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx", "parquet")
_NAME = re.compile(r"^(?P<extract>.+)_(?P<date>\d{8})\.(?P<ext>[A-Za-z0-9]+)$")
# Files that may sit at the top of the raw folder without being deliveries.
_TOP_LEVEL_OK = {SYNTHETIC_MARKER, GROUND_TRUTH_FILE, SITE_MAPPING_FILE}
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Delivery:
    """One delivery file whose name and folder fit the contract."""

    path: Path
    extract: str
    delivery_date: date
    format: str  # csv, xlsx or parquet

    @property
    def file(self) -> str:
        return self.path.name

    def sort_key(self) -> tuple[date, int, str]:
        """Delivery date first; on the same date parents before children (contract order)."""
        return (self.delivery_date, extract_names().index(self.extract), self.file)


@dataclass(frozen=True)
class Misnamed:
    """A file in the raw folder that cannot be a delivery, and why (a sentence to act on)."""

    path: Path
    extract: str | None
    problem: str


def find_deliveries(
    raw_dir: Path, mapping: SiteMapping | None = None, today: date | None = None
) -> tuple[list[Delivery], list[Misnamed]]:
    """All delivery files below raw_dir in load order, and the files refused by their name.

    Hidden files and non-delivery files at the top are ignored; any file in a folder is either
    a delivery or refused, so that no data a user put there disappears without a word."""
    deliveries: list[Delivery] = []
    misnamed: list[Misnamed] = []
    latest = latest_delivery_date(today)
    for path in sorted(raw_dir.rglob("*")):
        if not path.is_file():
            continue
        # a file named by its source system, as a pattern of the site mapping says
        named = mapping.delivery(path, raw_dir, latest) if mapping else None
        if named is None and _ignored(path, raw_dir):
            continue
        result = named or classify(path, raw_dir, latest)
        (deliveries if isinstance(result, Delivery) else misnamed).append(result)
    deliveries, twins = _without_twins(deliveries)
    deliveries.sort(key=Delivery.sort_key)
    return deliveries, misnamed + twins


def latest_delivery_date(today: date | None = None) -> date:
    """The last date a delivery's name may carry (ingest.yaml: deliveries.max_days_ahead)."""
    return (today or date.today()) + timedelta(days=load_config().deliveries.max_days_ahead)


def _without_twins(deliveries: list[Delivery]) -> tuple[list[Delivery], list[Misnamed]]:
    """Deliveries of one extract dated the same day (a .csv and an .xlsx of one export) are
    all refused: which of them holds the right rows is for a person to say, not for the
    load order to decide."""
    by_day: dict[tuple[str, date], list[Delivery]] = {}
    for delivery in deliveries:
        by_day.setdefault((delivery.extract, delivery.delivery_date), []).append(delivery)
    kept: list[Delivery] = []
    twins: list[Misnamed] = []
    for (extract, day), same in by_day.items():
        if len(same) == 1:
            kept += same
            continue
        names = ", ".join(d.file for d in same)
        problem = (
            f"{len(same)} {extract} deliveries are dated {day:%Y-%m-%d} ({names}); none of them is "
            "loaded: keep only one, or give a correction a later date in its name"
        )
        twins += [Misnamed(d.path, extract, problem) for d in same]
    return kept, twins


def _ignored(path: Path, raw_dir: Path) -> bool:
    """Hidden files, and files at the top of the raw folder that do not look like deliveries
    (the generator's marker, a README): only extract folders are expected to hold data."""
    relative = path.relative_to(raw_dir)
    if any(part.startswith(".") for part in relative.parts):
        return True
    if len(relative.parts) > 1:
        return False
    if path.name in _TOP_LEVEL_OK:
        return True
    if _NAME.match(path.name):
        return False  # a delivery in the wrong place: refused, with where it belongs
    log.info("ignored %s: not a delivery", scrub(str(path)))
    return True


def classify(path: Path, raw_dir: Path, latest: date | None = None) -> Delivery | Misnamed:
    """The delivery a path names, or why it is not one. A date after `latest` (default: see
    latest_delivery_date) is refused: the latest delivery date sets the default as_of."""
    extracts = extract_names()
    relative = path.relative_to(raw_dir)
    folder = relative.parts[0] if len(relative.parts) > 1 else None
    m = _NAME.match(path.name)
    named = m.group("extract") if m else None
    expected = f"<extract>/<extract>_<YYYYMMDD>.csv|xlsx|parquet, extract one of {', '.join(extracts)}"
    if m is None:
        return Misnamed(path, folder, f"the name does not fit the pattern {expected}")
    if named not in extracts:
        return Misnamed(path, folder, f"'{named}' is not an extract; expected {expected}")
    if folder != named or len(relative.parts) != 2:
        where = f"{relative.parent.as_posix()}/" if folder else "the top of the raw folder"
        return Misnamed(path, named, f"a {named} delivery sits in {where}; move it to {named}/")
    ext = m.group("ext").lower()
    if ext not in FORMATS:
        return Misnamed(path, named, f"format .{ext} is not accepted; save it as .csv, .xlsx or .parquet")
    try:
        day = date(int(m.group("date")[:4]), int(m.group("date")[4:6]), int(m.group("date")[6:]))
    except ValueError:
        return Misnamed(path, named, f"{m.group('date')} in the name is not a date YYYYMMDD")
    return dated(path, named, day, ext, latest)


def dated(path: Path, extract: str, day: date, ext: str, latest: date | None = None) -> Delivery | Misnamed:
    """A delivery of `day`, or refused when the day lies after `latest` (default: see
    latest_delivery_date): the latest delivery date sets the default as_of."""
    latest = latest or latest_delivery_date()
    if day > latest:
        return Misnamed(
            path,
            extract,
            f"{day:%Y%m%d} in the name lies after {latest:%Y-%m-%d}, more than "
            f"{load_config().deliveries.max_days_ahead} days after today: is the date in the name right?",
        )
    return Delivery(path=path, extract=extract, delivery_date=day, format=ext)


def file_hash(path: Path) -> str:
    """sha256 of the file's bytes: the identity of a delivery for idempotent reloads."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
