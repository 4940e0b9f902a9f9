"""Planted bad rows: what a real delivery contains now and then, and ingestion must quarantine
(or, for exact duplicates, recognise) without losing the rest of the file.

Each planted row breaks exactly one rule of the contract, chosen from the contract itself (its
required date and code columns, its `not_before` pairs, its `min: 0` decimals), so the count of
each kind per file is known exactly and written to the ground truth, and a test can recount it
from the files with nothing but the contract and pipeline.cpr."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.contract import Extract
from pipeline.generate.rows import Labels, Rows
from pipeline.generate.timeline import make_bad

# Kinds that make a row break a contract rule (quarantined); a duplicate is a valid row twice.
BREAKING = ("invalid_cpr", "bad_date", "unknown_code", "end_before_start", "negative_hours")


@dataclass(frozen=True)
class DirtSpec:
    rate: float
    kinds: dict[str, list[str]]
    unknown_codes: list[str]
    n_bad_forms: int


def bad_cpr_variants(texts: np.ndarray) -> list[str]:
    """Invalid CPR numbers made from real ones: day 32, nine digits, letters."""
    out = []
    for i, text in enumerate(texts):
        kind = i % 3
        out.append(f"32{text[2:]}" if kind == 0 else text[:9] if kind == 1 else f"{text[:6]}AB{text[8:]}")
    return out


def date_columns(spec: Extract) -> list[str]:
    return [c.name for c in spec.columns.values() if c.required and c.type in ("date", "week", "month")]


def code_columns(spec: Extract) -> list[str]:
    return [c.name for c in spec.columns.values() if c.required and c.type == "code"]


def order_pair(spec: Extract) -> tuple[str, str, str | None]:
    """(later, earlier, reason) for the end-before-start kind: the `not_before` column that
    another column is required with (end_date/end_reason), else the first `not_before` column."""
    pairs = [(c.name, c.not_before) for c in spec.columns.values() if c.not_before]
    reasons = {c.required_if_set: c.name for c in spec.columns.values() if c.required_if_set}
    later, earlier = next(((a, b) for a, b in pairs if a in reasons), pairs[0])
    return later, earlier, reasons.get(later)


def hours_columns(spec: Extract) -> list[str]:
    return [c.name for c in spec.columns.values() if c.type == "decimal" and c.min == 0]


def plant(
    rows: Rows, spec: DirtSpec, rng: np.random.Generator, textual: Callable[[str], bool], force: bool
) -> tuple[Rows, Counter]:
    """Corrupt a share `rate` of one delivery's rows (each planted row one kind); with `force`,
    at least one row of every kind that fits the file. `textual(column)` says whether the file
    can hold an impossible date in that column (a Parquet date column cannot)."""
    kinds = [k for k in spec.kinds.get(rows.extract, []) if _fits(k, rows, textual)]
    n = len(rows)
    if not kinds or n == 0 or (spec.rate <= 0 and not force):
        return rows, Counter()
    drawn = list(rng.choice(kinds, rng.binomial(n, spec.rate))) if spec.rate > 0 else []
    if force:
        drawn += kinds
    # a row ending a course's link (end_reason rebooked) is left intact: its continuation names
    # it, and would be quarantined too if it were lost
    allowed = np.flatnonzero(~_rebooked(rows))
    in_place = [k for k in drawn if k != "duplicate"][: len(allowed)]
    targets = rng.choice(allowed, len(in_place), replace=False)
    columns = dict(rows.columns)
    counts: Counter = Counter()
    for kind in sorted(set(in_place)):
        where = targets[np.array([k == kind for k in in_place])]
        _CORRUPT[kind](rows, columns, where, spec, rng, textual)
        counts[kind] += len(where)
    rows = Rows(rows.extract, rows.delivery, columns)
    n_dup = min(drawn.count("duplicate"), n - len(targets))
    if n_dup:
        free = np.ones(n, dtype=bool)
        free[targets] = False
        sources = rng.choice(np.flatnonzero(free), n_dup, replace=False)
        order = np.argsort(np.concatenate([np.arange(n), sources]), kind="stable")
        rows = rows.take(np.concatenate([np.arange(n), sources])[order])
        counts["duplicate"] += n_dup
    return rows, counts


def _rebooked(rows: Rows) -> np.ndarray:
    """Rows whose end_reason is `rebooked`."""
    reason = rows.columns.get("end_reason")
    if rows.extract != "referrals" or not isinstance(reason, Labels):
        return np.zeros(len(rows), dtype=bool)
    return reason.texts() == "rebooked"


def _fits(kind: str, rows: Rows, textual: Callable[[str], bool]) -> bool:
    spec = rows.spec
    if kind == "invalid_cpr":
        return spec.has_cpr
    if kind == "bad_date":
        return any(textual(c) for c in date_columns(spec))
    if kind == "unknown_code":
        return bool(code_columns(spec))
    if kind == "end_before_start":
        return any(c.not_before for c in spec.columns.values())
    if kind == "negative_hours":
        return bool(hours_columns(spec))
    return kind == "duplicate"


def _invalid_cpr(rows: Rows, columns: dict, where: np.ndarray, spec: DirtSpec, rng, textual) -> None:
    col: Labels = columns["cpr"]
    bad = bad_cpr_variants(col.vocab.texts[col.idx[where]])
    idx = col.idx.copy()
    idx[where] = len(col.vocab) + np.arange(len(where))
    columns["cpr"] = Labels(idx, col.vocab.extended(bad))


def _bad_date(rows: Rows, columns: dict, where: np.ndarray, spec: DirtSpec, rng, textual) -> None:
    names = [c for c in date_columns(rows.spec) if textual(c)]
    pick = rng.integers(0, len(names), len(where))
    for i, name in enumerate(names):
        values = columns[name].copy()
        chosen = where[pick == i]
        values[chosen] = make_bad(values[chosen], rng.integers(0, spec.n_bad_forms, len(chosen)))
        columns[name] = values


def _unknown_code(rows: Rows, columns: dict, where: np.ndarray, spec: DirtSpec, rng, textual) -> None:
    names = code_columns(rows.spec)
    pick = rng.integers(0, len(names), len(where))
    for i, name in enumerate(names):
        col: Labels = columns[name]
        chosen = where[pick == i]
        codes = list(rng.choice(spec.unknown_codes, len(chosen)))
        idx = col.idx.copy()
        idx[chosen] = len(col.vocab) + np.arange(len(chosen))
        columns[name] = Labels(idx, col.vocab.extended(codes))


def _end_before_start(rows: Rows, columns: dict, where: np.ndarray, spec: DirtSpec, rng, textual) -> None:
    later, earlier, reason = order_pair(rows.spec)
    values = columns[later].copy()
    values[where] = columns[earlier][where] - rng.integers(1, 31, len(where))
    columns[later] = values
    if reason:  # an end date needs its end reason, or the row would break a second rule
        col: Labels = columns[reason]
        idx = col.idx.copy()
        idx[where] = np.where(idx[where] >= 0, idx[where], list(col.vocab.texts).index("other"))
        columns[reason] = Labels(idx, col.vocab)


def _negative_hours(rows: Rows, columns: dict, where: np.ndarray, spec: DirtSpec, rng, textual) -> None:
    names = hours_columns(rows.spec)
    pick = rng.integers(0, len(names), len(where))
    for i, name in enumerate(names):
        values = columns[name].copy()
        chosen = where[pick == i]
        values[chosen] = -(np.abs(values[chosen]) + 1.0)
        columns[name] = values


_CORRUPT = {
    "invalid_cpr": _invalid_cpr,
    "bad_date": _bad_date,
    "unknown_code": _unknown_code,
    "end_before_start": _end_before_start,
    "negative_hours": _negative_hours,
}
