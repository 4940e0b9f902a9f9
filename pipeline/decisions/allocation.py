"""Allocation of new referrals within a tender area (decisions.md, "Allocation").

Each provider's recommended share of the area's new referrals = its state's share x its
capacity_per_month, normalised within the area. The notebook shows it in referrals per month,
given the area's expected volume (mean bookings of the latest months), rounded so that the
whole numbers add up to the rounded volume (largest remainder), because a caseworker can book
12 citizens, not 11.6, and the column must add up."""

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
MISSING_CAPACITY = "Kapacitet mangler for {count} leverandør(er); de vægtes med områdets gennemsnit ({mean})."
ALL_CAPACITY_MISSING = "Kapacitet mangler for alle leverandører; de vægtes ens."

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


@dataclass(frozen=True)
class Allocation:
    providers: pd.DataFrame  # PROVIDER_COLUMNS, one row per provider and area
    areas: pd.DataFrame  # AREA_COLUMNS, one row per area, with a Danish note where relevant


def round_half_up(x: float) -> int:
    return int(Decimal(repr(float(x))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def largest_remainder(quotas: Sequence[float], total: int) -> list[int]:
    """Whole numbers adding up to `total`, each the floor or ceiling of its quota: the floors,
    plus one for the largest remainders (ties: larger quota first, then input order).

    total must lie between the sum of the floors and the sum of the ceilings."""
    floors = [math.floor(q) for q in quotas]
    left = total - sum(floors)
    ceilings = sum(math.ceil(q) for q in quotas)
    if left < 0 or total > ceilings:
        raise ValueError(f"cannot round {list(quotas)} to a total of {total}")
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - floors[i]), -quotas[i], i))
    out = list(floors)
    for i in order[:left]:
        out[i] += 1
    return out


def _capacities(keys: list[Key], capacity: Mapping[Key, float | None]) -> tuple[list[float], str]:
    """Each provider's capacity; missing ones weighted by the area mean, or all equal."""
    given = [capacity.get(k) for k in keys]
    known = [float(c) for c in given if c is not None and not math.isnan(float(c))]
    if not known:
        return [1.0] * len(keys), ALL_CAPACITY_MISSING if keys else ""
    mean = sum(known) / len(known)
    filled = [mean if c is None or math.isnan(float(c)) else float(c) for c in given]
    missing = len(keys) - len(known)
    note = MISSING_CAPACITY.format(count=missing, mean=danish.format_number(mean, 1)) if missing else ""
    return filled, note


def _area(
    area: int, frame: pd.DataFrame, volume: float | None, capacity: Mapping[Key, float | None]
) -> tuple[list[dict[str, object]], dict[str, object]]:
    keys = [(str(p), area) for p in frame["provider_id"]]
    caps, cap_note = _capacities(keys, capacity)
    weights = [float(s) * c for s, c in zip(frame["share"], caps, strict=True)]
    total_weight = sum(weights)
    shares = [w / total_weight if total_weight > 0 else 0.0 for w in weights]
    has_volume = volume is not None and not math.isnan(volume)
    expected = [s * volume if has_volume else math.nan for s in shares]  # type: ignore[operator]
    total = round_half_up(volume) if has_volume and total_weight > 0 else 0  # type: ignore[arg-type]
    counts = largest_remainder(expected, total) if has_volume else [None] * len(keys)
    notes = [NOBODY_RECEIVES if total_weight <= 0 else "", cap_note, "" if has_volume else NO_VOLUME]
    providers = [
        dict(zip(PROVIDER_COLUMNS, (area, k[0], float(s), c, w, a, e, n), strict=True))
        for k, s, c, w, a, e, n in zip(
            keys, frame["share"], caps, weights, shares, expected, counts, strict=True
        )
    ]
    summary = {
        "tender_area": area,
        "expected_volume": volume if has_volume else math.nan,
        "providers": len(keys),
        "receiving": sum(1 for w in weights if w > 0),
        "referrals_per_month": total if has_volume else None,
        "note": " ".join(n for n in notes if n),
    }
    return providers, summary


def allocate(
    shares: pd.DataFrame,
    volumes: Mapping[int, float],
    capacity: Mapping[Key, float | None] | None = None,
) -> Allocation:
    """The recommended allocation per tender area.

    shares: provider_id, tender_area, share (the state's share, e.g. decision rows of one model
    and month); volumes: expected referrals per month per area; capacity: capacity_per_month
    per (provider_id, tender_area), missing = unknown."""
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
        pd.DataFrame(provider_rows, columns=PROVIDER_COLUMNS), pd.DataFrame(area_rows, columns=AREA_COLUMNS)
    )
