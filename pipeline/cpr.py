"""CPR numbers (CPR-nummer): validation, derived birth date and sex, masking, pseudonymisation.

The clear CPR must never leave ingestion. Everything downstream sees only `person_key`,
an HMAC-SHA256 of the ten digits under a secret key, so that the same person links across
extracts while the number itself cannot be recovered without the key."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import date

KEY_ENV = "PROVMON_PSEUDONYM_KEY"
# Published with the source, hence only for folders `provmon generate` wrote, with a warning
# every time (pipeline.ingest.pseudonym.resolve_key).
DEMO_KEY = "provmon-demo-key-synthetic-data-only"

_CPR_RE = re.compile(r"^\s*(\d{6})-?(\d{4})\s*$")
_SIX_DIGITS = re.compile(r"\d{6}")


@dataclass(frozen=True)
class CprInfo:
    digits: str
    birth_date: date
    sex: str  # "M" or "F"


def normalise(raw: str) -> str | None:
    """The ten digits of a well-formed CPR (with or without hyphen), else None."""
    m = _CPR_RE.match(raw or "")
    return m.group(1) + m.group(2) if m else None


def century(yy: int, digit7: int) -> int:
    """The century of birth from the 7th digit, as the CPR office defines it."""
    if digit7 <= 3:
        return 1900
    if digit7 in (4, 9):
        return 2000 if yy <= 36 else 1900
    return 2000 if yy <= 57 else 1800


def parse(raw: str) -> CprInfo | None:
    """Birth date and sex of a valid CPR; None when it is not one.

    Valid means ten digits whose first six are a real date DDMMYY, where a day of 61-91 is a
    replacement number (erstatningsnummer, day + 60). Modulus 11 is not checked: numbers issued
    since 2007 may fail it."""
    digits = normalise(raw)
    if digits is None:
        return None
    day, month, yy = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    if 61 <= day <= 91:
        day -= 60
    try:
        born = date(century(yy, int(digits[6])) + yy, month, day)
    except ValueError:
        return None
    return CprInfo(digits=digits, birth_date=born, sex="M" if int(digits[9]) % 2 else "F")


def mask(raw: str) -> str:
    """The form a CPR may take in a message: `010190-****`."""
    m = _SIX_DIGITS.search(raw or "")
    return f"{m.group(0)}-****" if m else "******-****"


def key_fingerprint(key: bytes) -> str:
    """What identifies a key without revealing it: HMAC-SHA256 of a fixed text that is never a
    CPR number, so it tells no more about the key than any person_key made with it."""
    return hmac.new(key, b"provmon pseudonym key fingerprint", hashlib.sha256).hexdigest()


def person_key(digits_or_raw: str, key: bytes) -> str:
    """HMAC-SHA256(key, ten digits) as hex. A malformed value is keyed as given (trimmed),
    so a quarantined row still carries no clear number."""
    digits = normalise(digits_or_raw) or (digits_or_raw or "").strip()
    return hmac.new(key, digits.encode("utf-8"), hashlib.sha256).hexdigest()


# What a CPR number looks like when a person writes it anywhere (raw-extracts.md, "Personal
# data"): ten digits grouped 6+4 or 2-2-2-4, between the groups nothing or up to three of
# hyphen, en dash, space, tab, no-break space, dot, slash or underscore, the first six a date
# DDMMYY (day + 60 for a replacement number; 29 February is taken as a date in any year).
# The patterns are written for both Python's re and DuckDB's RE2: no \d, no lookaround.
_SEP = "[-\u2013 \t\u00a0./_]{0,3}"
_DAY_MONTH = (
    f"(?:(?:0[1-9]|[12][0-9]|6[1-9]|[78][0-9]){_SEP}(?:0[1-9]|1[0-2])"
    f"|(?:30|90){_SEP}(?:0[13-9]|1[0-2])"
    f"|(?:31|91){_SEP}(?:0[13578]|1[02]))"
)
_DATE_PART = f"{_DAY_MONTH}{_SEP}[0-9]{{2}}"
CPR_LIKE = f"{_DATE_PART}{_SEP}[0-9]{{4}}"
# What is masked: the above, and any ten digits with at most a hyphen after the sixth (the
# CPR column's own form, which may be a mistyped number). Group 1 or 2 is the part shown.
_MASKED = f"(?:([0-9]{{6}})-?|({_DATE_PART}){_SEP})[0-9]{{4}}"
# The SQL forms (RE2): the edges are matched as characters, kept by the replacement.
SQL_CPR_LIKE = f"(^|[^0-9]){CPR_LIKE}([^0-9]|$)"
SQL_MASKED = f"(^|[^0-9]){_MASKED}([^0-9]|$)"
SQL_MASK_REPLACEMENT = "\\1\\2\\3-****\\4"
_CPR_ANYWHERE = re.compile(f"(?<![0-9]){_MASKED}(?![0-9])")
_CPR_LIKE_ANYWHERE = re.compile(f"(?<![0-9]){CPR_LIKE}(?![0-9])")


def scrub(text: str) -> str:
    """Mask anything in free text that looks like a CPR number, keeping only its date part
    as written (`200997 1003` -> `200997-****`): the last line of defence for log lines,
    error messages and column headers."""
    return _CPR_ANYWHERE.sub(r"\1\2-****", text)


def holds_cpr(text: str) -> bool:
    """Whether a text holds a CPR number in any of the forms people write it in."""
    return _CPR_LIKE_ANYWHERE.search(text) is not None


class ScrubCprFilter(logging.Filter):
    """Logging filter that masks CPR-like numbers in every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        return True
