"""The synthetic world of one seed: the generator's citizens, market and true effects.

The citizens, their covariates, course dates and random numbers are drawn once per seed with the
generator's own functions and streams (make_cohort, simulate), so they are exactly the referrals
`provmon generate` would write for that seed and are the same under every policy. What a policy
changes is only the provider a referral is booked with; the outcome at that provider is drawn
from the generator's outcome model with the referral's own uniform numbers (common random
numbers): booked where the generator booked it, it gets the generator's outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.special import expit

from pipeline.generate.config import DRIVERS, World, load_world
from pipeline.generate.extracts import IdCounters, referral_ids
from pipeline.generate.market import Market, build_market
from pipeline.generate.simulate import BEN, PURPOSES, B, ChunkResult, simulated_chunks
from pipeline.generate.timeline import NULL, Timeline, first_day, month_number, month_of

# The streams of the generator (generate(): [seed, 0] market, [seed, 1, chunk] citizens,
# [seed, 2, chunk] their lives) and the simulation's own: the booking draw of each referral.
BOOKING_STREAM = 7


@dataclass(frozen=True)
class SimWorld:
    """One seed's world: the market and one row per referral of the period (`referrals`)."""

    seed: int
    world: World
    timeline: Timeline
    market: Market
    referrals: pd.DataFrame
    months: list[int]  # month numbers of the simulated period
    scale: str = "small"
    chunk_sizes: tuple[int, ...] = ()  # referrals of each chunk of citizens, the period's and after
    # The risk adjustment of a month's base, by the base's content (Measures._risk_adjust): the
    # policies of one world book alike until their decisions first differ (soft and soft-no-ew
    # until the early warning changes a share), and the same base need not be fitted again.
    stats_cache: dict[bytes, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def areas(self) -> list[int]:
        return sorted(int(a) for a in self.referrals["tender_area"].unique())


def build_world(
    scale: str,
    seed: int,
    months: int | None = None,
    world: World | None = None,
    booked: Mapping[int, np.ndarray] | None = None,
) -> SimWorld:
    """The world of `seed` at `scale`; `months` shortens the period (the first months only).
    `booked` (per chunk, a provider index per referral, -1: the generator's draw) is the
    generator's hook: the world of a history a policy booked (pipeline/simulate/extracts.py)."""
    world = world or load_world()
    cfg = world.scale(scale)
    timeline = Timeline(
        month_number(cfg.first_month),
        cfg.months,
        world.calendar.delivery_day,
        world.calendar.history_weeks,
        world.calendar.follow_months,
        world.lead_weeks,
    )
    market = build_market(world, cfg, timeline, np.random.default_rng([seed, 0]))
    frames, sizes = [], []
    ids = IdCounters()
    for chunk, cohort, result in simulated_chunks(world, cfg, timeline, market, seed, booked):
        sizes.append(len(cohort.person))
        label, vocab = referral_ids(cohort, result, ids)
        frame = _referrals(
            world, timeline, market, result, chunk, np.random.default_rng([seed, BOOKING_STREAM, chunk])
        )
        frames.append(frame.assign(register_id=vocab.texts[label[frame["ref"].to_numpy()]]))
    referrals = pd.concat(frames, ignore_index=True)
    period = list(range(timeline.first_month, timeline.first_month + cfg.months))
    if months is not None:
        period = period[: int(months)]
    referrals = referrals[referrals["start_month"] <= period[-1]].reset_index(drop=True)
    referrals["referral_id"] = np.arange(len(referrals))
    return SimWorld(seed, world, timeline, market, referrals, period, scale, tuple(sizes))


def _first_results(result_refs: np.ndarray, dates: np.ndarray, n: int) -> np.ndarray:
    """The first registered result day of each referral (NULL where none)."""
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, result_refs, dates)
    return np.where(first == np.iinfo(np.int64).max, NULL, first)


def register_covariates(
    timeline: Timeline, result: ChunkResult, f: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """benefit_weeks_52 and paid_hours_baseline as the chunk's final registers show them, which
    is what the pipeline computes them from (metrics.md): weeks on a benefit other than SU in
    the 52 weeks before the start week; mean paid hours (as delivered: one decimal) in the 3
    months before the start month. The generator's own covariates are computed from the
    registers as they stood at the start, and a citizen's later referral can rewrite them
    afterwards (the history block before its start reaches back before the earlier start), so
    they can disagree with what the registers end up saying."""
    weeks = timeline.week_index(f["start_date"])[:, None] + np.arange(-52, 0)
    status = result.benefit[f["person"][:, None], weeks]
    months = timeline.month_index(f["start_date"])[:, None] + np.arange(-3, 0)
    hours = np.round(result.hours[f["person"][:, None], months].astype(np.float64), 1)
    return {
        "benefit_weeks_52": ((status != B["none"]) & (status != B["student_grant"])).sum(axis=1),
        "paid_hours_baseline": hours.sum(axis=1) / 3,
    }


def _referrals(
    world: World,
    timeline: Timeline,
    market: Market,
    result: ChunkResult,
    chunk: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One chunk's referrals with what the closed loop needs from the generator's draws; the
    risk model's covariates as the pipeline computes them from the registers."""
    f = result.referrals
    order = np.argsort(f["ref"], kind="stable")
    f = {k: np.asarray(v)[order] for k, v in f.items()}
    f.update(register_covariates(timeline, result, f))
    n = len(f["ref"])
    results = result.results
    grace = world.outcomes.result_grace_days
    window = f["end_date"] + grace
    refs = np.searchsorted(f["ref"], results["ref"])
    counted = (results["date"] >= f["start_date"][refs]) & (results["date"] <= window[refs])
    first = _first_results(refs[counted], results["date"][counted], n)
    offers = market.offers
    # a day for a result the generator did not draw, should another provider produce one
    span = np.maximum(window - f["start_date"] - 7, 0)
    spare = np.where(
        window - f["start_date"] >= 7,
        f["start_date"] + 7 + np.floor(rng.random(n) * (span + 1)),
        f["start_date"],
    ).astype(np.int64)
    return pd.DataFrame(
        {
            "chunk": chunk,
            "ref": f["ref"],  # the referral's index in its chunk (the generator's booking hook)
            "person": f["person"],
            "tender_area": f["area"].astype(int),
            "offer_code": np.array(offers, dtype=object)[f["offer"]],
            "start_day": f["start_date"].astype(np.int64),
            "end_day": f["end_date"].astype(np.int64),
            "start_month": month_of(f["start_date"]),
            "provider": f["provider"].astype(int),  # where the generator booked it
            "score": f["score"],
            "sick_open": f["sick_open"].astype(bool),
            "has_result": f["has_result"].astype(bool),
            "fit": f["fit"].astype(bool),
            "u_result": f["u_result"],
            "u_fit": f["u_fit"],
            "u_book": rng.random(n),
            "result_day": np.where(f["has_result"], first, spare),
            "age_at_start": f["age"].astype(int),
            "sex": np.where(f["male"], "M", "F"),
            "benefit_at_start": np.array(BEN, dtype=object)[f["benefit_at_start"]],
            "benefit_weeks_52": f["benefit_weeks_52"].astype(int),
            "paid_hours_baseline": f["paid_hours_baseline"].astype(float),
            "prior_referrals": f["prior_referrals"].astype(int),
            "purpose": np.array(PURPOSES, dtype=object)[f["purpose"]],
            "start_quarter": f["quarter"].astype(int) + 1,
        }
    )


def outcome_probabilities(sim: SimWorld, provider: np.ndarray, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """P(result) and P(fit) of each referral in `rows` if booked with `provider`: the
    generator's logistic(intercept[area] + slope x score + effect[provider, driver, dropped])."""
    out = sim.world.outcomes
    dropped = (rows["start_month"].to_numpy() >= sim.market.drop_month[provider]).astype(np.int64)
    area = rows["tender_area"].to_numpy()
    probs = {}
    for name in ("result", "fit"):
        driver = out.driver(name)
        intercept = np.array([driver.intercept.get(a, 0.0) for a in range(max(driver.intercept) + 1)])
        effect = sim.market.effects[provider, DRIVERS.index(name), dropped]
        probs[name] = expit(intercept[area] + driver.slope * rows["score"].to_numpy() + effect)
    return probs


def draw_outcomes(sim: SimWorld, provider: np.ndarray, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """has_result and fit of the referrals in `rows` booked with `provider`, with each
    referral's own uniform numbers (the generator's copula draws)."""
    p = outcome_probabilities(sim, provider, rows)
    has_result = rows["u_result"].to_numpy() < p["result"]
    fit = rows["sick_open"].to_numpy() & (rows["u_fit"].to_numpy() < p["fit"])
    return has_result, fit


def truly_worse(sim: SimWorld, provider: int, month: int, driver: str) -> bool:
    """The provider's true effect on the driver is negative in that month (its drop included)."""
    dropped = int(month >= sim.market.drop_month[provider])
    return bool(sim.market.effects[provider, DRIVERS.index(driver), dropped] < 0)


def month_first_day(month: int) -> int:
    return int(first_day(np.array([month]))[0])


def month_last_day(month: int) -> int:
    return month_first_day(month + 1) - 1


def with_referrals(sim: SimWorld, referrals: pd.DataFrame) -> SimWorld:
    return replace(sim, referrals=referrals)
