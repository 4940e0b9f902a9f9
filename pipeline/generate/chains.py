"""Course chains and efterværn: referrals that are not a course of their own.

Before the tender change a change of a course's weekly hours meant a rebooking (ombooking):
the referral ends `rebooked` and a new one, to the same provider and tender area, continues the
course within a week; some deliveries name the referral continued (previous_referral_id), some
do not. After a course that ended in a job or education, some citizens get efterværn, a
referral to the aftercare offer. Both are added to a chunk's simulated referrals after the
simulation: the course's outcomes (drawn once, for the course) stay as they are, its last link
carries its end, and the results and attendance weeks go to the link they fall in. The ground
truth records every chain and every aftercare referral (truth.py), so that tests can compare
what provmon infers with what was planted."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.generate.config import World
from pipeline.generate.market import Market
from pipeline.generate.simulate import (
    END_REASONS,
    PURPOSES,
    RESULT_TYPES,
    ChunkResult,
    categorical,
    uniform_int,
)
from pipeline.generate.timeline import first_day, monday_of, month_of

NONE = -1


def with_links(world: World, market: Market, result: ChunkResult, rng: np.random.Generator) -> ChunkResult:
    """The chunk's referrals with rebookings split into links and efterværn added. New
    referrals get cohort indexes after the existing ones; `previous` names the link a referral
    continues (NONE for a course's first), `named` whether its delivery says so, `course` the
    course's first referral and `aftercare` marks efterværn."""
    f = dict(result.referrals)
    n = len(f["ref"])
    f["previous"] = np.full(n, NONE)
    f["named"] = np.zeros(n, dtype=bool)
    f["course"] = f["ref"].copy()
    f["aftercare"] = np.zeros(n, dtype=bool)
    out = replace(result, referrals=f)
    change_day = int(first_day(np.array([market.change_month]))[0])
    cfg = world.rebooking
    last = np.flatnonzero(rng.random(n) < cfg.course_share)
    share = 1.0
    while len(last):
        out, last = _rebook(world, market, out, last, rng, change_day, share)
        share = cfg.again_share
    return _aftercare(world, market, out, rng)


def _append(f: dict[str, np.ndarray], rows: np.ndarray, new_ref: np.ndarray) -> tuple[dict, np.ndarray]:
    """Copies of rows `rows` appended with cohort indexes `new_ref`; their positions."""
    start = len(f["ref"])
    out = {k: np.concatenate([v, v[rows]]) for k, v in f.items()}
    out["ref"][start:] = new_ref
    return out, np.arange(start, start + len(rows))


def _rebook(
    world: World,
    market: Market,
    result: ChunkResult,
    candidates: np.ndarray,
    rng: np.random.Generator,
    change_day: int,
    share: float,
) -> tuple[ChunkResult, np.ndarray]:
    """Split each candidate referral (the last link of its course) in two where a rebooking
    fits: at least min_days_in after its start, the continuation starting before the tender
    change and before the course's end. Returns the new links (candidates for another
    rebooking)."""
    cfg = world.rebooking
    f = result.referrals
    candidates = candidates[rng.random(len(candidates)) < share]
    s, e = f["start_date"][candidates], f["end_date"][candidates]
    gap = uniform_int(rng, cfg.gap_days[0], cfg.gap_days[1], len(candidates))
    latest = np.minimum(e - 7, change_day - 1 - gap)
    earliest = s + cfg.min_days_in
    fits = (latest >= earliest) & ~f["aftercare"][candidates]
    rows, gap = candidates[fits], gap[fits]
    if not len(rows):
        return result, rows
    day = earliest[fits] + np.floor(rng.random(len(rows)) * (latest[fits] - earliest[fits] + 1)).astype(
        np.int64
    )
    new_ref = int(f["ref"].max()) + 1 + np.arange(len(rows))
    f, links = _append(f, rows, new_ref)
    start = day + gap
    # the continuation: booked on the day of the rebooking, on the agreement in force at its start
    f["start_date"][links] = start
    f["booked_on"][links] = day
    version = market.version_of(month_of(start))
    f["agreement"][links] = market.agreement_index[
        f["provider"][links], f["area"][links], f["offer"][links], version
    ]
    f["planned_end_0"][links] = np.maximum(f["planned_end_0"][links], start + 7)
    f["planned_end_1"][links] = np.maximum(f["planned_end_1"][links], start + 7)
    hours = np.maximum(f["hours_min_1"][rows] + rng.choice(np.asarray(cfg.hours_change), len(rows)), 1.0)
    for name in ("hours_min_0", "hours_max_0", "hours_min_1", "hours_max_1"):
        f[name][links] = hours
    f["correction_day"][links] = np.where(f["correction_day"][rows] > start, f["correction_day"][rows], -1)
    f["previous"][links] = f["ref"][rows]
    f["named"][links] = rng.random(len(rows)) < cfg.named_share
    # the link rebooked: ends that day
    f["end_date"][rows] = day
    f["end_reason"][rows] = END_REASONS.index("rebooked")
    f["correction_day"][rows] = np.where(f["correction_day"][rows] < day, f["correction_day"][rows], -1)
    f["planned_end_0"][rows] = np.maximum(f["planned_end_0"][rows], f["start_date"][rows])
    moved = _move_to_links(result, f["ref"][rows], new_ref, start)
    return replace(moved, referrals=f), links


def _move_to_links(result: ChunkResult, old: np.ndarray, new: np.ndarray, start: np.ndarray) -> ChunkResult:
    """Results dated from a continuation's start, and its attendance weeks, belong to it."""
    to_new = np.full(int(max(result.referrals["ref"].max(), old.max())) + 1, NONE)
    to_new[old] = new
    since = np.zeros_like(to_new)
    since[old] = start
    results, attendance = dict(result.results), dict(result.attendance)
    if len(results.get("ref", [])):
        ref = results["ref"]
        moves = (to_new[ref] != NONE) & (results["date"] >= since[ref])
        results["ref"] = np.where(moves, to_new[ref], ref)
    if len(attendance.get("ref", [])):
        ref = attendance["ref"]
        moves = (to_new[ref] != NONE) & (attendance["week_start"] >= monday_of(since[ref]))
        attendance["ref"] = np.where(moves, to_new[ref], ref)
    return replace(result, results=results, attendance=attendance)


def _aftercare(world: World, market: Market, result: ChunkResult, rng: np.random.Generator) -> ChunkResult:
    """Efterværn after a share of the courses that ended in a job or education, with the same
    provider where it has an aftercare agreement then, else another of the area's."""
    cfg = world.aftercare
    f = result.referrals
    reasons = [END_REASONS.index(r) for r in cfg.after_reasons]
    ended_well = np.isin(f["end_reason"], reasons) & np.isin(f["area"], cfg.areas) & ~f["aftercare"]
    rows = np.flatnonzero(ended_well & (rng.random(len(ended_well)) < cfg.share))
    start = f["end_date"][rows] + uniform_int(rng, cfg.start_days[0], cfg.start_days[1], len(rows))
    offer = market.offers.index(cfg.offer)
    month = month_of(start)
    area = f["area"][rows]
    open_ = (market.open_from[area, offer] <= month[:, None]) & (month[:, None] < market.open_to[area, offer])
    weights = np.cumsum(market.capacity[area, offer] * open_, axis=1)
    own = open_[np.arange(len(rows)), f["provider"][rows]]
    draw = rng.random(len(rows)) * weights[:, -1]
    provider = np.where(own, f["provider"][rows], (weights < draw[:, None]).sum(axis=1))
    keep = weights[:, -1] > 0
    rows, start, provider = rows[keep], start[keep], provider[keep]
    if not len(rows):
        return result
    new_ref = int(f["ref"].max()) + 1 + np.arange(len(rows))
    f, links = _append(f, rows, new_ref)
    weeks = uniform_int(rng, *world.offers[cfg.offer].weeks, len(rows))
    planned = start + 7 * weeks - 3
    hours = np.round(rng.uniform(*world.offers[cfg.offer].hours_min, len(rows)) * 2) / 2
    f["start_date"][links], f["booked_on"][links] = start, f["end_date"][rows]
    f["provider"][links], f["offer"][links] = provider, offer
    f["agreement"][links] = market.agreement_index[
        provider, area[keep], offer, market.version_of(month_of(start))
    ]
    f["purpose"][links] = PURPOSES.index(cfg.purpose)
    for name in ("planned_end_0", "planned_end_1", "end_date"):
        f[name][links] = planned
    for name in ("hours_min_0", "hours_max_0", "hours_min_1", "hours_max_1"):
        f[name][links] = hours
    f["correction_day"][links] = -1
    f["end_reason"][links] = END_REASONS.index("completed")
    f["previous"][links], f["named"][links] = NONE, False
    f["course"][links] = new_ref
    f["aftercare"][links] = True
    has = rng.random(len(rows)) < cfg.result_share
    span = np.maximum(planned - start - 7, 1)
    result_date = start + 7 + np.floor(rng.random(len(rows)) * span).astype(np.int64)
    kinds = categorical(rng, np.zeros(len(rows)), {0: cfg.result_types}, RESULT_TYPES)
    results = dict(result.results)
    results["ref"] = np.concatenate([results["ref"], new_ref[has]])
    results["date"] = np.concatenate([results["date"], result_date[has]])
    results["type"] = np.concatenate([results["type"], kinds[has]])
    return replace(result, referrals=f, results=results)


@dataclass
class LinkTally:
    """The planted chains and aftercare referrals, by referral id, over all chunks."""

    chains: dict[str, list[str]] = field(default_factory=dict)  # course id -> its links in order
    named: set[str] = field(default_factory=set)  # links delivered with previous_referral_id
    aftercare: list[str] = field(default_factory=list)

    def add(self, f: dict[str, np.ndarray], ids: np.ndarray, written: np.ndarray) -> None:
        """`ids[i]`: the referral id of referral row i; `written`: whether it was delivered."""
        index = {int(r): i for i, r in enumerate(f["ref"])}
        for i in np.flatnonzero(written & (f["previous"] != NONE)):
            prev = index[int(f["previous"][i])]
            if not written[prev]:
                continue
            first = index[int(f["course"][i])]
            chain = self.chains.setdefault(str(ids[first]), [str(ids[first])])
            chain.append(str(ids[i]))
            if f["named"][i]:
                self.named.add(str(ids[i]))
        self.aftercare += [str(ids[i]) for i in np.flatnonzero(written & f["aftercare"])]
