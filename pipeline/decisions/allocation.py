"""Allocation of new referrals within a tender area (decisions.md, "Allocation").

Each provider's weight = its state's share x its capacity_per_month (missing capacity: the
area's mean capacity; none known: equal weights), normalised within the area. Given the area's
expected volume (mean bookings of the latest months), the weights are turned into referrals per
month **capped by capacity**: nobody gets more than its capacity_per_month; what a cap frees
goes to the others in proportion to their weights (water-filling, repeated until no one is
above its cap); what no one can take is the area's shortfall, reported as "kapacitet mangler".
A provider whose capacity is unknown has no cap (nobody knows it), so an area with such a
receiving provider has no shortfall. The whole referrals are rounded by largest remainder so
that they add up to the rounded allocated volume, never above a cap, because a caseworker can
book 12 citizens, not 11.6, and the column must add up.

Interface (the caller decides where shares, volumes and capacity come from):
`allocate(shares, volumes, capacity)` -> Allocation. Beyond PROVIDER_COLUMNS (the stored
columns) the provider frame has `capacity_cap` (the cap in referrals per month, NaN where
unknown) and `capped` (the cap binds); beyond AREA_COLUMNS the area frame has `allocated`
(referrals per month given out, = min(volume, total capacity) when every receiving provider has
a known capacity) and `shortfall` (volume - allocated). With caps binding, `allocation_share`
(allocated referrals / the area's volume) sums to allocated / volume, below 1 when capacity is
short. Without a volume the caps cannot be applied (capacity is in referrals): shares are the
normalised weights and the note says so."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from pipeline import danish
from pipeline.decisions.errors import DecisionInputError

Key = tuple[str, int]

# Notes for the reader of the allocation table, in Danish: the reports show them as they are.
NOBODY_RECEIVES = (
    "Ingen leverandør i området kan modtage nye henvisninger (bookingstop eller ingen kapacitet)."
)
NO_VOLUME = "Ingen forventet volumen for området: kun andele, ikke antal henvisninger."
# Capacity not stated in the agreements (a data gap), not to be confused with SHORTFALL.
MISSING_CAPACITY = (
    "Kapacitet ikke oplyst for {count} leverandør(er); de vægtes med områdets gennemsnit ({mean})"
    " og har intet loft."
)
ALL_CAPACITY_MISSING = "Kapacitet ikke oplyst for nogen leverandør; de vægtes ens og har intet loft."
# What the providers' capacity cannot take (decisions.md: "kapacitet mangler").
SHORTFALL = (
    "Kapacitet mangler: {shortfall} af {volume} forventede henvisninger pr. måned kan ingen "
    "leverandør i området modtage."
)

PROVIDER_COLUMNS = [
    "tender_area",
    "provider_id",
    "state_share",
    "capacity_per_month",
    "weight",
    "allocation_share",
    "expected_referrals",
    "referrals_per_month",
]
AREA_COLUMNS = ["tender_area", "expected_volume", "providers", "receiving", "referrals_per_month", "note"]
# Columns beyond the stored ones (store.py keeps PROVIDER_COLUMNS; these are for callers and tests).
PROVIDER_EXTRA_COLUMNS = ["capacity_cap", "capped"]
AREA_EXTRA_COLUMNS = ["allocated", "shortfall"]
# Relative tolerance of the cap test: a share computed as volume x w / W may exceed an exactly
# binding cap by rounding alone.
_CAP_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Allocation:
    providers: pd.DataFrame  # PROVIDER_COLUMNS + PROVIDER_EXTRA_COLUMNS, one row per provider and area
    areas: pd.DataFrame  # AREA_COLUMNS + AREA_EXTRA_COLUMNS, one row per area, with a Danish note


def round_half_up(x: float) -> int:
    return int(Decimal(repr(float(x))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def largest_remainder(
    quotas: Sequence[float], total: int, limits: Sequence[float | None] | None = None
) -> list[int]:
    """Whole numbers adding up to `total`, each the floor or ceiling of its quota: the floors,
    plus one for the largest remainders (ties: larger quota first, then input order). With
    `limits`, no number exceeds its limit (None: no limit), so a rounded count never breaks a
    capacity cap that is not a whole number.

    total must lie between the sum of the floors and the sum of the (limited) ceilings."""
    limits = list(limits) if limits is not None else [None] * len(quotas)
    floors = [math.floor(q) for q in quotas]
    can_rise = [
        math.ceil(q) > f and (lim is None or f + 1 <= lim)
        for q, f, lim in zip(quotas, floors, limits, strict=True)
    ]
    left = total - sum(floors)
    if left < 0 or left > sum(can_rise):
        raise ValueError(f"cannot round {list(quotas)} to a total of {total}")
    candidates = [i for i in range(len(quotas)) if can_rise[i]]
    order = sorted(candidates, key=lambda i: (-(quotas[i] - floors[i]), -quotas[i], i))
    out = list(floors)
    for i in order[:left]:
        out[i] += 1
    return out


def capped_amounts(weights: Sequence[float], caps: Sequence[float | None], volume: float) -> list[float]:
    """`volume` divided in proportion to `weights`, nobody above its cap (None: no cap).

    Water-filling: give everyone its proportional part of what is left; whoever would get more
    than its cap gets the cap and leaves; repeat with the rest until nobody is above a cap. The
    level volume / (sum of weights left) only rises, so a provider capped once stays capped and
    the loop ends within len(weights) rounds. What is given out is min(volume, sum of caps)
    when every weighted provider has a cap, else the whole volume; a zero weight gets nothing."""
    amounts = [0.0] * len(weights)
    active = [i for i, w in enumerate(weights) if w > 0]
    remaining = float(volume)
    while active and remaining > 0:
        level = remaining / sum(weights[i] for i in active)
        over = [
            i
            for i in active
            if caps[i] is not None and level * weights[i] > caps[i] * (1 + _CAP_TOLERANCE)  # type: ignore[operator]
        ]
        if not over:
            for i in active:
                amounts[i] = level * weights[i]
            break
        for i in over:
            amounts[i] = float(caps[i])  # type: ignore[arg-type]
            remaining -= amounts[i]
        active = [i for i in active if i not in over]
    return amounts


def _capacities(
    keys: list[Key], capacity: Mapping[Key, float | None]
) -> tuple[list[float], list[float | None], str]:
    """Each provider's weighting capacity (missing ones weighted by the area mean, or all equal)
    and its cap (None where its capacity is unknown)."""
    given = [capacity.get(k) for k in keys]
    caps = [None if c is None or math.isnan(float(c)) else float(c) for c in given]
    known = [c for c in caps if c is not None]
    if not known:
        return [1.0] * len(keys), caps, ALL_CAPACITY_MISSING if keys else ""
    mean = sum(known) / len(known)
    filled = [mean if c is None else c for c in caps]
    missing = len(keys) - len(known)
    note = MISSING_CAPACITY.format(count=missing, mean=danish.format_number(mean, 1)) if missing else ""
    return filled, caps, note


def _amounts(
    weights: list[float], caps: list[float | None], volume: float | None
) -> tuple[list[float], list[float]]:
    """Expected referrals and shares of the area's volume, capped; without a volume (or with 0)
    there is nothing to cap, and the shares are the normalised weights."""
    if volume is not None and volume > 0:
        expected = capped_amounts(weights, caps, volume)
        return expected, [e / volume for e in expected]
    total = sum(weights)
    shares = [w / total if total > 0 else 0.0 for w in weights]
    return [math.nan if volume is None else s * volume for s in shares], shares


def _whole(expected: list[float], caps: list[float | None], allocated: float) -> list[int]:
    """Whole referrals adding up to the rounded allocated volume, none above its cap."""
    limits = [None if c is None else c * (1 + _CAP_TOLERANCE) for c in caps]
    total = min(round_half_up(allocated), _reachable(expected, limits))
    return largest_remainder(expected, total, limits)


def _area(
    area: int, frame: pd.DataFrame, volume: float | None, capacity: Mapping[Key, float | None]
) -> tuple[list[dict[str, object]], dict[str, object]]:
    keys = [(str(p), area) for p in frame["provider_id"]]
    weighting, caps, cap_note = _capacities(keys, capacity)
    weights = [float(s) * c for s, c in zip(frame["share"], weighting, strict=True)]
    volume = None if volume is None or math.isnan(volume) else float(volume)
    expected, shares = _amounts(weights, caps, volume)
    allocated = math.nan if volume is None else sum(expected)
    shortfall = math.nan if volume is None else volume - allocated
    if volume is not None and shortfall <= volume * _CAP_TOLERANCE:
        shortfall = 0.0  # rounding, not a shortfall
    counts: list[int | None] = (
        [None] * len(keys) if volume is None else list(_whole(expected, caps, allocated))
    )
    capped = [
        volume is not None and c is not None and w > 0 and e >= c * (1 - _CAP_TOLERANCE)
        for c, w, e in zip(caps, weights, expected, strict=True)
    ]
    receiving = sum(1 for w in weights if w > 0)
    notes = [
        "" if receiving else NOBODY_RECEIVES,
        _shortfall_note(shortfall, volume) if receiving and volume is not None and shortfall > 0 else "",
        cap_note,
        "" if volume is not None else NO_VOLUME,
    ]
    providers = [
        dict(
            zip(
                PROVIDER_COLUMNS + PROVIDER_EXTRA_COLUMNS,
                (area, k[0], float(s), c, w, a, e, n, math.nan if cap is None else cap, cp),
                strict=True,
            )
        )
        for k, s, c, w, a, e, n, cap, cp in zip(
            keys, frame["share"], weighting, weights, shares, expected, counts, caps, capped, strict=True
        )
    ]
    summary = {
        "tender_area": area,
        "expected_volume": math.nan if volume is None else volume,
        "providers": len(keys),
        "receiving": receiving,
        "referrals_per_month": None if volume is None else sum(c or 0 for c in counts),
        "note": " ".join(n for n in notes if n),
        "allocated": allocated,
        "shortfall": shortfall,
    }
    return providers, summary


def _reachable(quotas: Sequence[float], limits: Sequence[float | None]) -> int:
    """The largest whole total the rounding can reach without breaking a limit."""
    return sum(
        math.ceil(q) if lim is None or math.ceil(q) <= lim else math.floor(q)
        for q, lim in zip(quotas, limits, strict=True)
    )


def _shortfall_note(shortfall: float, volume: float) -> str:
    return SHORTFALL.format(
        shortfall=danish.format_number(shortfall, 1), volume=danish.format_number(volume, 1)
    )


def allocate(
    shares: pd.DataFrame,
    volumes: Mapping[int, float],
    capacity: Mapping[Key, float | None] | None = None,
) -> Allocation:
    """The recommended allocation per tender area.

    shares: provider_id, tender_area, share (the state's share, e.g. decision rows of one model
    and month); volumes: expected referrals per month per area; capacity: capacity_per_month
    per (provider_id, tender_area), missing = unknown (weighted by the area mean, no cap).
    The signature is unchanged by the capacity caps; their results are extra columns (module
    docstring)."""
    missing = [c for c in ("provider_id", "tender_area", "share") if c not in shares.columns]
    if missing:
        raise DecisionInputError(f"allocation needs the column(s) {', '.join(missing)}")
    provider_rows: list[dict[str, object]] = []
    area_rows: list[dict[str, object]] = []
    for area, frame in shares.sort_values(["tender_area", "provider_id"]).groupby("tender_area", sort=True):
        rows, summary = _area(int(area), frame, volumes.get(int(area)), capacity or {})
        provider_rows += rows
        area_rows.append(summary)
    return Allocation(
        pd.DataFrame(provider_rows, columns=PROVIDER_COLUMNS + PROVIDER_EXTRA_COLUMNS),
        pd.DataFrame(area_rows, columns=AREA_COLUMNS + AREA_EXTRA_COLUMNS),
    )
