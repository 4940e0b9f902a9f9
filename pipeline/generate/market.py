"""The market: providers (leverandører), their framework agreements (rammeaftaler) with prices
and capacity, and their true effects.

Everything here is small (a dozen providers, a few hundred agreement rows), so it is built once
per run with plain Python; what the per-citizen simulation needs from it is exposed as numpy
lookup arrays indexed by provider, tender area, offer and agreement version."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from pipeline.generate.config import DRIVERS, Scale, World
from pipeline.generate.rows import Rows, Vocab, labels
from pipeline.generate.timeline import NULL, Timeline, day_of, first_day, month_number, month_text

NEVER = np.iinfo(np.int64).max // 2  # a month that never comes
_CVR_WEIGHTS = np.array([2, 7, 6, 5, 4, 3, 2, 1])


@dataclass(frozen=True)
class Agreement:
    agreement_id: str
    provider: int
    area: int
    offer: int
    version: int
    price_model: str
    price_dkk: float
    valid_from: int  # day number
    valid_to: int  # day number or NULL
    capacity: int
    delivered_at: int  # delivery index of its first appearance
    closed_at: int  # delivery index where it is re-sent with valid_to, or -1


@dataclass
class Market:
    provider_ids: list[str]
    offers: list[str]
    agreements: list[Agreement]
    # [area, offer, provider] -> relative capacity (0 = no agreement) and the first month
    # (month number) the agreement can be booked
    capacity: np.ndarray
    open_from: np.ndarray
    open_to: np.ndarray  # [area, offer, provider] the first month it can no longer be booked
    change_month: int  # the tender change (month number): old agreements end the day before
    # [provider, area, offer, version] -> agreement index, -1 = none
    agreement_index: np.ndarray
    index_months: np.ndarray  # the Januaries that start a new agreement version
    tilt: np.ndarray  # [provider] intake tilt
    effects: np.ndarray  # [provider, driver, dropped(0/1)] log-odds shift
    drop_month: np.ndarray  # [provider] month number from which `dropped` applies
    cvr: list[str]

    def version_of(self, start_months: np.ndarray) -> np.ndarray:
        """The agreement version in force in a course's start month: a new price every January
        and new agreements from the tender change."""
        return np.searchsorted(self.index_months, start_months, side="right")

    @property
    def agreement_vocab(self) -> Vocab:
        return Vocab([a.agreement_id for a in self.agreements])


def fictitious_cvr(rng: np.random.Generator) -> str:
    """An 8-digit number that fails the CVR modulus-11 check, so no real company has it."""
    while True:
        digits = rng.integers(0, 10, 8)
        if digits[0] != 0 and int(digits @ _CVR_WEIGHTS) % 11 != 0:
            return "".join(map(str, digits))


def area_offers(world: World, area: int) -> dict[str, float]:
    """The offers of a tender area with their share of its bookings: the area's own, and the
    aftercare offer where the area has efterværn."""
    offers = dict(world.tender_areas[area].offers)
    total = sum(offers.values())
    shares = {o: v / total for o, v in offers.items()}
    if area in world.aftercare.areas:
        shares[world.aftercare.offer] = world.aftercare.capacity_share
    return shares


def build_market(world: World, scale: Scale, timeline: Timeline, rng: np.random.Generator) -> Market:
    provider_ids = list(world.providers)
    offers = list(world.offers)
    n_areas = max(world.tender_areas) + 1
    n_p, n_o = len(provider_ids), len(offers)
    change = month_number(world.tender.change)
    capacity = np.zeros((n_areas, n_o, n_p))
    open_from = np.full((n_areas, n_o, n_p), NEVER, dtype=np.int64)
    open_to = np.full((n_areas, n_o, n_p), NEVER, dtype=np.int64)
    for p, pid in enumerate(provider_ids):
        period = world.providers[pid].period
        for area in world.providers[pid].areas:
            for offer in area_offers(world, area):
                capacity[area, offers.index(offer), p] = world.providers[pid].capacity
                open_from[area, offers.index(offer), p] = change if period == "new" else 0
                open_to[area, offers.index(offer), p] = change if period == "old" else NEVER
    added = {(a.provider, a.area, a.offer): timeline.month_at(a.at) for a in world.agreements.offer_added}
    for (pid, area, offer), month in added.items():
        p, o = provider_ids.index(pid), offers.index(offer)
        capacity[area, o, p] = capacity[area, o, p] or world.providers[pid].capacity
        known = int(open_from[area, o, p])
        open_from[area, o, p] = month if known == NEVER else max(month, known)

    last_month = timeline.first_month + timeline.n_months - 1
    index_months = np.array(
        [m for m in range(timeline.first_month + 1, last_month + 1) if m % 12 == 0 or m == change],
        dtype=np.int64,
    )
    agreements = _agreements(
        world, scale, timeline, rng, provider_ids, offers, capacity, (open_from, open_to), index_months
    )
    agreement_index = np.full((n_p, n_areas, n_o, len(index_months) + 1), -1, dtype=np.int64)
    for i, a in enumerate(agreements):
        agreement_index[a.provider, a.area, a.offer, a.version] = i

    effects = np.zeros((n_p, len(DRIVERS), 2))
    drop_month = np.full(n_p, NEVER, dtype=np.int64)
    for p, pid in enumerate(provider_ids):
        role = world.roles[world.providers[pid].role]
        for d, driver in enumerate(DRIVERS):
            effects[p, d] = role.effect(driver), role.effect(driver, dropped=True)
        if role.drop_at is not None:
            drop_month[p] = timeline.month_at(role.drop_at)
    tilt = np.array([world.providers[pid].intake_tilt for pid in provider_ids])
    cvr = [fictitious_cvr(rng) for _ in provider_ids]
    return Market(
        provider_ids,
        offers,
        agreements,
        capacity,
        open_from,
        open_to,
        change,
        agreement_index,
        index_months,
        tilt,
        effects,
        drop_month,
        cvr,
    )


def _agreements(
    world: World,
    scale: Scale,
    timeline: Timeline,
    rng: np.random.Generator,
    provider_ids: list[str],
    offers: list[str],
    capacity: np.ndarray,
    bookable: tuple[np.ndarray, np.ndarray],
    index_months: np.ndarray,
) -> list[Agreement]:
    """One agreement per provider × area × offer and price version; a new version every
    January of the period (indexed price) and at the tender change, the old one closed the day
    before; none for a provider outside its tender period (`bookable`: open from, open to)."""
    open_from, open_to = bookable
    cfg = world.agreements
    first_year = 1970 + timeline.first_month // 12 - cfg.valid_from_years_before
    first_year_day = day_of(dt.date(first_year, 1, 1))
    monthly = scale.referrals / timeline.n_months
    out: list[Agreement] = []
    for area, area_cfg in world.tender_areas.items():
        shares = area_offers(world, area)
        for o, offer in enumerate(offers):
            if offer not in shares:
                continue
            offer_share = shares[offer]
            weights = capacity[area, o]
            for p in np.flatnonzero(weights):
                # the share among the providers of the same tender period
                same_period = (open_from[area, o] < open_to[area, o, p]) & (
                    open_to[area, o] > open_from[area, o, p]
                )
                share = weights[p] / weights[same_period].sum()
                cap = max(1, round(monthly * area_cfg.share * offer_share * share * cfg.capacity_margin))
                lo, hi = world.offers[offer].week_price
                week_price = float(round(rng.uniform(lo, hi)))
                by_day = rng.random() < cfg.day_price_share
                out += _versions(
                    provider_ids[p],
                    int(p),
                    area,
                    o,
                    offer,
                    week_price,
                    by_day,
                    cap,
                    (int(open_from[area, o, p]), int(open_to[area, o, p])),
                    first_year_day,
                    index_months,
                    timeline,
                    cfg.yearly_price_index,
                )
    return out


def _versions(
    pid: str,
    p: int,
    area: int,
    o: int,
    offer: str,
    week_price: float,
    by_day: bool,
    cap: int,
    months: tuple[int, int],
    first_year_day: int,
    index_months: np.ndarray,
    timeline: Timeline,
    index: float,
) -> list[Agreement]:
    out: list[Agreement] = []
    starts_month, ends_month = months
    version_starts = [0, *index_months.tolist()]
    for v, start_month in enumerate(version_starts):
        begin = max(start_month, starts_month)
        end_month = version_starts[v + 1] if v + 1 < len(version_starts) else None
        if (end_month is not None and begin >= end_month) or begin >= ends_month:
            continue
        years = sum(m % 12 == 0 for m in version_starts[1 : v + 1])  # Januaries: the price index
        price = week_price * index**years
        # a day price is per calendar day (cost = price × course days): a seventh of the week's
        price = round(price / 7 * 2) / 2 if by_day else float(round(price))
        valid_from = first_year_day if begin == 0 else int(first_day(np.array([begin]))[0])
        valid_to = int(first_day(np.array([end_month]))[0]) - 1 if end_month is not None else NULL
        out.append(
            Agreement(
                agreement_id=f"{pid}-{area}-{offer.upper()}-{v + 1}",
                provider=p,
                area=area,
                offer=o,
                version=v,
                price_model="day" if by_day else "week",
                price_dkk=price,
                valid_from=valid_from,
                valid_to=valid_to,
                capacity=cap,
                delivered_at=int(timeline.delivery_of_month(np.array([begin]))[0]) if begin else 0,
                closed_at=int(timeline.delivery_of_month(np.array([end_month]))[0]) if end_month else -1,
            )
        )
    return out


def agreement_rows(market: Market) -> Rows:
    """Every agreement when it first appears, and again with valid_to when it is closed."""
    items = [(a.delivered_at, i, False) for i, a in enumerate(market.agreements)]
    items += [(a.closed_at, i, True) for i, a in enumerate(market.agreements) if a.closed_at >= 0]
    items.sort()
    ags = [market.agreements[i] for _, i, _ in items]
    closed = np.array([c for _, _, c in items])
    provider_vocab = Vocab(market.provider_ids)
    return Rows(
        "agreements",
        np.array([d for d, _, _ in items], dtype=np.int64),
        {
            "agreement_id": labels(np.array([i for _, i, _ in items]), market.agreement_vocab),
            "provider_id": labels(np.array([a.provider for a in ags]), provider_vocab),
            "tender_area": np.array([a.area for a in ags], dtype=np.int64),
            "offer_code": labels(np.array([a.offer for a in ags]), Vocab([o.upper() for o in market.offers])),
            "price_model": labels(
                np.array([a.price_model == "day" for a in ags], dtype=np.int64), Vocab(["week", "day"])
            ),
            "price_dkk": np.array([a.price_dkk for a in ags]),
            "valid_from": np.array([a.valid_from for a in ags], dtype=np.int64),
            "valid_to": np.where(closed, [a.valid_to for a in ags], NULL).astype(np.int64),
            "capacity_per_month": np.array([a.capacity for a in ags], dtype=np.int64),
        },
    )


def provider_rows(world: World, market: Market, timeline: Timeline) -> Rows:
    """The initial delivery of all providers, then a row per update (a new name, a CVR that
    was missing), each carrying the provider's full current state."""
    names = {pid: p.name for pid, p in world.providers.items()}
    has_cvr = {pid: True for pid in names}
    for update in world.provider_updates:
        if update.add_cvr:
            has_cvr[update.provider] = False
    rows = [(0, pid, names[pid], has_cvr[pid]) for pid in names]
    for update in sorted(world.provider_updates, key=lambda u: u.at):
        if update.name:
            names[update.provider] = update.name
        if update.add_cvr:
            has_cvr[update.provider] = True
        pid = update.provider
        rows.append((timeline.delivery_at(update.at), pid, names[pid], has_cvr[pid]))
    index = [market.provider_ids.index(pid) for _, pid, _, _ in rows]
    cvr_idx = np.array([i if ok else -1 for i, (*_, ok) in zip(index, rows, strict=True)])
    return Rows(
        "providers",
        np.array([r[0] for r in rows], dtype=np.int64),
        {
            "provider_id": labels(np.array(index), Vocab(market.provider_ids)),
            "provider_name": labels(np.arange(len(rows)), Vocab([r[2] for r in rows])),
            "cvr": labels(cvr_idx, Vocab(market.cvr)),
        },
    )


def drop_month_text(market: Market, p: int) -> str | None:
    return month_text(int(market.drop_month[p])) if market.drop_month[p] < NEVER else None
