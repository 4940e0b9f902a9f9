"""The life of a chunk of citizens around their referrals: register history before each start,
the case-mix covariates it implies, the provider the caseworker books, the outcomes that
provider's true effect produces, and the registers after the start that show those outcomes.

Why it is built this way:
- The case mix acts ONLY through covariates the pipeline can compute (metrics.md): the
  history before a start is written first, the covariates are computed from it exactly as the
  pipeline will, and both the provider allocation and the outcome probabilities depend on
  those covariates alone. A risk model on them can therefore adjust for a hard intake.
- Each outcome driver is drawn with P = logistic(intercept[area] + slope × score + effect),
  coupled by a Gaussian copula, so a provider's effect is an exact log-odds shift while a job,
  a registered result and a fit declaration still go together as they do in life.
- The registers after the start are then written so that the pipeline's measures find exactly
  those draws (a job in month J has hours > 0 in J; sustained at X months has hours in J + X …).
- A chunk's referrals are handled in rounds (everyone's first referral, then second …), each
  round vectorised over citizens in a local window of weeks and months around the start."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, ndtr

from pipeline.contract import load_contract
from pipeline.generate.config import DRIVERS, Scale, World
from pipeline.generate.market import Market
from pipeline.generate.population import Cohort, make_cohort
from pipeline.generate.timeline import (
    Timeline,
    age_in_years,
    first_day,
    monday_of,
    month_length,
    month_of,
    weekday,
)

WEEKS_BEFORE, WEEKS_AFTER = 57, 88  # local week window around the start week
MONTHS_BEFORE, MONTHS_AFTER = 14, 20
W0, M0 = WEEKS_BEFORE, MONTHS_BEFORE  # column of the start week / start month in local arrays


def benefit_vocab() -> list[str]:
    """Benefit codes with 0 = none (self-supporting): the codes of the register arrays."""
    return ["none", *load_contract().codes["benefit"]]


def code_vocab(extract: str, column: str) -> list[str]:
    return list(load_contract().extracts[extract].columns[column].codes or [])


BEN = benefit_vocab()
B = {name: i for i, name in enumerate(BEN)}
END_REASONS = code_vocab("referrals", "end_reason")
PURPOSES = code_vocab("referrals", "purpose")
RESULT_TYPES = code_vocab("referral_results", "result_type")
CASE_ENDS = code_vocab("sickness_cases", "end_reason")
REHAB_OUTCOMES = code_vocab("rehab_decisions", "outcome")
GRANT_BENEFIT = {
    "flex_job": "flex_unemployment",
    "resource_course": "resource_course",
    "disability_pension": "disability_pension",
}
AFTER_CASE = {
    "fit": "none",
    "partially_fit": "none",
    "job_clarification": "job_clarification",
    "duration_limit": "cash_assistance",
    "flex_job": "flex_unemployment",
    "disability_pension": "disability_pension",
    "other": "none",
}


def unit_names(world: World) -> list[str]:
    """The jobcenter units of all tender areas: the vocabulary of jobcenter_unit."""
    return sorted({u for area in world.tender_areas.values() for u in area.jobcenter_units})


@dataclass
class ChunkResult:
    """What a chunk's simulation produced: one entry per referral round, concatenated."""

    referrals: dict[str, np.ndarray]
    results: dict[str, np.ndarray]
    cases: dict[str, np.ndarray]
    decisions: dict[str, np.ndarray]
    attendance: dict[str, np.ndarray]
    benefit: np.ndarray  # int8 [person, global week]
    hours: np.ndarray  # float32 [person, global month]


@dataclass
class Round:
    """The k-th referrals of a chunk's citizens, with their local register windows."""

    ref: np.ndarray  # referral index in the cohort
    person: np.ndarray
    start: np.ndarray
    area: np.ndarray
    wcols: np.ndarray  # global week of each local week
    mcols: np.ndarray  # global month of each local month
    monday: np.ndarray  # Monday (day number) of each local week
    week_month: np.ndarray  # local month of each local week
    month_first: np.ndarray  # first day of each local month
    month_len: np.ndarray
    ben: np.ndarray  # int8 local benefit status
    hrs: np.ndarray  # float local paid hours
    f: dict[str, np.ndarray] = field(default_factory=dict)  # the referrals' fields

    def __len__(self) -> int:
        return len(self.ref)


def simulate(
    world: World,
    timeline: Timeline,
    market: Market,
    cohort: Cohort,
    rng: np.random.Generator,
    booked: np.ndarray | None = None,
) -> ChunkResult:
    """The chunk's lives. `booked` (provider index per cohort referral, -1: the caseworker's
    draw) books the given referrals with the given providers instead, every draw made as
    without it, so that the outcomes and registers after the start follow that provider: how
    `provmon simulate` writes a policy's history as extracts (pipeline/simulate/extracts.py)."""
    benefit = np.zeros((cohort.n_persons, timeline.n_weeks), dtype=np.int8)
    hours = np.zeros((cohort.n_persons, timeline.n_global_months), dtype=np.float32)
    parts: dict[str, list[dict[str, np.ndarray]]] = {
        k: [] for k in ("referrals", "results", "cases", "decisions", "attendance")
    }
    for k in range(int(cohort.order.max()) + 1 if len(cohort.order) else 0):
        ref = np.flatnonzero(cohort.order == k)
        person, start, area = cohort.person[ref], cohort.start[ref], cohort.area[ref]
        rnd = _open_round(timeline, benefit, hours, ref, person, start, area)
        _intake(world, rnd, rng, first=k == 0)
        _covariates(world, timeline, cohort, rnd, k)
        _allocate(world, timeline, market, rnd, rng, None if booked is None else booked[ref])
        _draw_outcomes(world, market, rnd, rng)
        _course(world, rnd, rng, int(first_day(np.array([market.change_month]))[0]))
        _job_and_health(world, rnd, rng)
        _course_end(world, rnd, rng)
        parts["results"].append(_results(world, rnd, rng))
        parts["decisions"].append(_decisions(world, rnd, rng))
        parts["cases"].append(_cases(rnd))
        parts["attendance"].append(_attendance(world, timeline, rnd, rng))
        _aftermath(world, rnd, rng)
        _close_round(benefit, hours, rnd)
        parts["referrals"].append({"ref": rnd.ref, **rnd.f})
    _lead_history(world, timeline, cohort, benefit, hours, rng, parts["cases"])
    return ChunkResult(**{k: _concat(v) for k, v in parts.items()}, benefit=benefit, hours=hours)


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        return {}
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


# --- windows -----------------------------------------------------------------------------------


def _open_round(
    timeline: Timeline,
    benefit: np.ndarray,
    hours: np.ndarray,
    ref: np.ndarray,
    person: np.ndarray,
    start: np.ndarray,
    area: np.ndarray,
) -> Round:
    wcols = timeline.week_index(start)[:, None] + np.arange(-WEEKS_BEFORE, WEEKS_AFTER + 1)
    ms = timeline.month_index(start)
    mcols = ms[:, None] + np.arange(-MONTHS_BEFORE, MONTHS_AFTER + 1)
    months = mcols + timeline.month0
    return Round(
        ref=ref,
        person=person,
        start=start,
        area=area,
        wcols=wcols,
        mcols=mcols,
        monday=timeline.week0 + 7 * wcols,
        week_month=timeline.week_month[wcols] - ms[:, None],
        month_first=first_day(months),
        month_len=month_length(months),
        ben=benefit[person[:, None], wcols],
        hrs=hours[person[:, None], mcols].astype(np.float64),
        f={"person": person, "start_date": start, "area": area},
    )


def _close_round(benefit: np.ndarray, hours: np.ndarray, rnd: Round) -> None:
    """Write the window back; the status at its end carries on until the next start rewrites
    it (a citizen on cash assistance stays on it, a job goes on)."""
    p = rnd.person
    benefit[p[:, None], rnd.wcols] = rnd.ben
    hours[p[:, None], rnd.mcols] = rnd.hrs.astype(np.float32)
    week_cols = np.arange(benefit.shape[1])
    after = week_cols[None, :] > rnd.wcols[:, -1:]
    benefit[p] = np.where(after, rnd.ben[:, -1:], benefit[p])
    month_cols = np.arange(hours.shape[1])
    after = month_cols[None, :] > rnd.mcols[:, -1:]
    hours[p] = np.where(after, rnd.hrs[:, -1:].astype(np.float32), hours[p])


def _lead_history(
    world: World,
    timeline: Timeline,
    cohort: Cohort,
    benefit: np.ndarray,
    hours: np.ndarray,
    rng: np.random.Generator,
    cases: list[dict[str, np.ndarray]],
) -> None:
    """The history before each lead referral (Cohort.lead_*, starting after the period), as
    _intake writes it for any referral: the block of weeks on its benefit, the side job's
    hours, the sickness case it opens, the closed case before job clarification, and for a
    citizen's first referral what came before the block. That history falls in the period
    and is delivered; nothing from the start on is simulated (it is after the period). The
    sickness cases opened in the period are appended to `cases`. Drawn after every draw of
    the period's referrals, which are therefore the same with or without a lead."""
    person, start, area = cohort.lead_person, cohort.lead_start, cohort.lead_area
    rank = np.arange(len(person)) - np.searchsorted(person, person)
    first = (rank == 0) & ~np.isin(person, cohort.person)
    for k in range(int(rank.max()) + 1 if len(rank) else 0):
        for is_first in (True, False):
            ref = np.flatnonzero((rank == k) & (first == is_first))
            if not len(ref):
                continue
            rnd = _open_round(timeline, benefit, hours, ref, person[ref], start[ref], area[ref])
            _intake(world, rnd, rng, first=is_first)
            rnd.ben[:, W0:] = rnd.f["benefit_at_start"][:, None]  # on the benefit at the start
            _close_round(benefit, hours, rnd)
            # a case open at the start ends after it, after the period: its end is not delivered
            rnd.f["case_end"] = rnd.start
            rnd.f["case_end_reason"] = np.zeros(len(rnd), dtype=np.int64)
            opened = _cases(rnd)
            known = opened["first_sick_day"] <= timeline.end_day
            cases.append({key: v[known] for key, v in opened.items()})


# --- draws -------------------------------------------------------------------------------------


def categorical(rng: np.random.Generator, keys: np.ndarray, tables: dict, vocab: list[str]) -> np.ndarray:
    """Per row, a code drawn from the share table of the row's key, as an index into vocab."""
    out = np.zeros(len(keys), dtype=np.int64)
    for key in sorted(tables):
        sel = np.flatnonzero(keys == key)
        if len(sel):
            names = list(tables[key])
            p = np.array([tables[key][n] for n in names], dtype=float)
            codes = np.array([vocab.index(n) for n in names])
            out[sel] = codes[rng.choice(len(names), len(sel), p=p / p.sum())]
    return out


def uniform_int(
    rng: np.random.Generator, lo: np.ndarray | float, hi: np.ndarray | float, n: int
) -> np.ndarray:
    """Whole numbers in [lo, hi], bounds per row allowed."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    return np.floor(lo + rng.random(n) * (hi - lo + 1)).astype(np.int64)


def uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(bounds[0], bounds[1], n)


def _round_hours(h: np.ndarray) -> np.ndarray:
    """Paid hours as eIndkomst reports them: one decimal, no sliver below one hour."""
    h = np.round(h, 1)
    return np.where(h < 1.0, 0.0, h)


# --- before the start --------------------------------------------------------------------------


def _intake(world: World, rnd: Round, rng: np.random.Generator, first: bool) -> None:
    """Benefit at start, offer, purpose, booking unit, and the history that leads up to the
    start: a block of weeks on the benefit right before it, and (first referral only) what
    came before that block. A later referral keeps the history its predecessor left."""
    n, f, areas = len(rnd), rnd.f, world.tender_areas
    f["benefit_at_start"] = categorical(rng, rnd.area, {a: c.benefit_at_start for a, c in areas.items()}, BEN)
    f["offer"] = categorical(rng, rnd.area, {a: c.offers for a, c in areas.items()}, list(world.offers))
    f["purpose"] = categorical(rng, rnd.area, {a: c.purposes for a, c in areas.items()}, PURPOSES)
    units = {a: c.jobcenter_units for a, c in areas.items()}
    f["unit"] = categorical(rng, rnd.area, units, unit_names(world))
    b = f["benefit_at_start"]
    sick = b == B["sickness_benefit"]
    f["sick_open"] = sick
    cfg = world.intake

    block_weeks = np.zeros(n, dtype=np.int64)
    for name, block in cfg.block_weeks.items():
        sel = np.flatnonzero(b == B[name])
        weeks = uniform_int(rng, *block.range, len(sel))
        block_weeks[sel] = np.where(rng.random(len(sel)) < block.full_share, WEEKS_BEFORE, weeks)
    start_monday = monday_of(rnd.start)
    block_start = np.where(
        sick, rnd.start - 7 * block_weeks - rng.integers(0, 7, n), start_monday - 7 * block_weeks
    )
    f["first_sick_day"] = np.where(sick, block_start, 0)

    # a job-clarification course follows a sickness case that ended (closed case before start)
    jc = (b == B["job_clarification"]) & (rng.random(n) < cfg.closed_case_before_job_clarification)
    case_first = rnd.start - 7 * uniform_int(rng, *cfg.closed_case_weeks, n)
    jc &= case_first < block_start - 7
    f["closed_case"], f["closed_case_first"], f["closed_case_end"] = jc, case_first, block_start

    if first:
        _history_before_block(world, rnd, rng, b)
    status = np.where(jc[:, None] & (rnd.monday >= case_first[:, None]), B["sickness_benefit"], rnd.ben)
    in_block = (rnd.monday >= monday_of(block_start)[:, None]) & (np.arange(rnd.ben.shape[1]) < W0)
    rnd.ben = np.where(in_block, b[:, None], status).astype(np.int8)
    _hours_in_block(world, rnd, rng, b, block_start)


def _history_before_block(world: World, rnd: Round, rng: np.random.Generator, b: np.ndarray) -> None:
    cfg, n = world.intake, len(rnd)
    tables = {
        int(code): cfg.before_block.get(BEN[code], cfg.before_block["default"]) for code in np.unique(b)
    }
    prior = categorical(rng, b, tables, BEN)
    employed = (prior == B["none"]) & (rng.random(n) < cfg.employed_before_block)
    level = uniform(rng, cfg.employed_hours, n) * employed
    rnd.ben[:, :W0] = prior[:, None]
    rnd.hrs[:, :M0] = level[:, None] * rng.uniform(0.9, 1.1, (n, M0))


def _hours_in_block(
    world: World, rnd: Round, rng: np.random.Generator, b: np.ndarray, block_start: np.ndarray
) -> None:
    """Months in the block get the side job of the benefit (småjob, or part-time work while
    partly sick-listed) or nothing; a month half before the block keeps half its hours."""
    cfg, n = world.intake, len(rnd)
    share = np.array([cfg.side_job_share.get(name, cfg.side_job_share["default"]) for name in BEN])[b]
    has_side = rng.random(n) < share
    sick = b == B["sickness_benefit"]
    side = (
        np.where(sick, uniform(rng, cfg.partial_sick_hours, n), uniform(rng, cfg.side_job_hours, n))
        * has_side
    )
    first, length = rnd.month_first[:, :M0], rnd.month_len[:, :M0]
    before = np.clip((block_start[:, None] - first) / length, 0.0, 1.0)
    noise = rng.uniform(0.85, 1.15, (n, M0))
    rnd.hrs[:, :M0] = _round_hours(rnd.hrs[:, :M0] * before + side[:, None] * noise * (1 - before))


def _covariates(world: World, timeline: Timeline, cohort: Cohort, rnd: Round, k: int) -> None:
    """The case-mix covariates of metrics.md, computed from the registers as written."""
    f = rnd.f
    before = rnd.ben[:, W0 - 52 : W0]
    f["benefit_weeks_52"] = ((before != B["none"]) & (before != B["student_grant"])).sum(axis=1)
    f["paid_hours_baseline"] = rnd.hrs[:, M0 - 3 : M0].sum(axis=1) / 3
    f["age"] = age_in_years(cohort.birth[rnd.person], rnd.start)
    f["male"] = cohort.male[rnd.person]
    f["prior_referrals"] = np.full(len(rnd), k)
    f["quarter"] = (month_of(rnd.start) % 12) // 3
    emp = world.employability
    offers = list(world.offers)
    f["score"] = (
        emp.age_per_10_years * (f["age"] - 45) / 10
        + emp.male * f["male"]
        + emp.benefit_weeks_52_full * f["benefit_weeks_52"] / 52
        + emp.long_term * (f["benefit_weeks_52"] >= emp.long_term_weeks)
        + emp.baseline_any * (f["paid_hours_baseline"] > 0)
        + emp.baseline_hours_log * np.log1p(f["paid_hours_baseline"]) / np.log(161)
        + emp.prior_referral * np.minimum(k, 3)
        + np.array([emp.benefit_at_start.get(c, 0.0) for c in BEN])[f["benefit_at_start"]]
        + np.array([emp.offer.get(o, 0.0) for o in offers])[f["offer"]]
        + np.array([emp.purpose.get(p, 0.0) for p in PURPOSES])[f["purpose"]]
        + np.array(emp.start_quarter)[f["quarter"]]
    )


# --- booking -----------------------------------------------------------------------------------


def _allocate(
    world: World,
    timeline: Timeline,
    market: Market,
    rnd: Round,
    rng: np.random.Generator,
    booked: np.ndarray | None = None,
) -> None:
    """Booking date, provider and agreement. Providers are chosen by capacity; a provider with
    an intake tilt receives more of the citizens with a low employability score. Where `booked`
    is >= 0 that provider is booked instead (the draw is still made: the stream stays the same)."""
    f, n = rnd.f, len(rnd)
    lag = uniform_int(rng, *world.calendar.booking_lag_days, n)
    day_of_month = rnd.start - first_day(month_of(rnd.start)) + 1
    # booked in the start's month unless the start falls before the delivery day: a referral
    # must never start after the delivery that first carries it
    late_start = day_of_month > world.calendar.delivery_day
    lag = np.where(late_start, np.minimum(lag, day_of_month - 1), lag)
    f["booked_on"] = rnd.start - lag
    start_month = month_of(rnd.start)

    centre = np.zeros(n)
    for area in np.unique(rnd.area):
        sel = rnd.area == area
        centre[sel] = f["score"][sel].mean()
    cap = market.capacity[rnd.area, f["offer"]]
    # the agreements in force when the course starts: a start from the tender change on is
    # booked on a new agreement, whenever it was booked
    open_ = (market.open_from[rnd.area, f["offer"]] <= start_month[:, None]) & (
        start_month[:, None] < market.open_to[rnd.area, f["offer"]]
    )
    tilt = np.exp(-market.tilt[None, :] * (f["score"] - centre)[:, None])
    weights = np.cumsum(cap * open_ * tilt, axis=1)
    draw = rng.random(n) * weights[:, -1]
    f["provider"] = (weights < draw[:, None]).sum(axis=1)
    if booked is not None:
        f["provider"] = np.where(booked >= 0, booked, f["provider"])
    version = market.version_of(start_month)
    f["agreement"] = market.agreement_index[f["provider"], rnd.area, f["offer"], version]
    if (f["agreement"] < 0).any():
        raise AssertionError("a booking found no agreement: check world.yaml offers and providers")


def _draw_outcomes(world: World, market: Market, rnd: Round, rng: np.random.Generator) -> None:
    f, n, out = rnd.f, len(rnd), world.outcomes
    dropped = (month_of(rnd.start) >= market.drop_month[f["provider"]]).astype(np.int64)
    eta = {}
    for d, name in enumerate(DRIVERS):
        driver = out.driver(name)
        intercept = np.array([driver.intercept.get(a, 0.0) for a in range(max(driver.intercept) + 1)])
        f[f"effect_{name}"] = market.effects[f["provider"], d, dropped]
        eta[name] = intercept[rnd.area] + driver.slope * f["score"] + f[f"effect_{name}"]
    chol = np.linalg.cholesky(np.asarray(out.correlation))
    u = ndtr(rng.standard_normal((n, len(DRIVERS))) @ chol.T)
    f["job"] = u[:, 0] < expit(eta["paid_hours"])
    for horizon, shift in (out.sustained.horizon_shift or {}).items():
        f[f"sustained_{horizon}"] = f["job"] & (u[:, 1] < expit(eta["sustained"] + shift))
    f["has_result"] = u[:, 2] < expit(eta["result"])
    f["fit"] = f["sick_open"] & (u[:, 3] < expit(eta["fit"]))
    # kept so that `provmon simulate` can draw the same citizen's outcome at another provider
    # with the same random number (common random numbers across booking policies)
    f["u_result"], f["u_fit"] = u[:, 2], u[:, 3]
    f["grant"] = u[:, 4] < expit(eta["rehab_grant"])


# --- the course --------------------------------------------------------------------------------


def _offer_table(world: World, attribute: str) -> np.ndarray:
    return np.array([getattr(o, attribute) for o in world.offers.values()], dtype=float)


def _course(world: World, rnd: Round, rng: np.random.Generator, change_day: int) -> None:
    """Planned length and weekly hours span; a few are corrected later (extended, or, from
    the tender change on, the hours span changed), which a later delivery re-sends."""
    f, n, out = rnd.f, len(rnd), world.outcomes
    weeks = _offer_table(world, "weeks")[f["offer"]]
    f["planned_weeks"] = uniform_int(rng, weeks[:, 0], weeks[:, 1], n)
    f["planned_end_0"] = rnd.start + 7 * f["planned_weeks"] - 3
    lo = _offer_table(world, "hours_min")[f["offer"]]
    extra = _offer_table(world, "hours_extra")[f["offer"]]
    f["hours_min_0"] = np.round(rng.uniform(lo[:, 0], lo[:, 1]) * 2) / 2
    # before the tender change a fixed number of weekly hours (a change means a rebooking,
    # chains.py); the new agreements book a span
    old = rnd.start < change_day
    span = np.round(rng.uniform(extra[:, 0], extra[:, 1]) * 2) / 2
    f["hours_max_0"] = f["hours_min_0"] + np.where(old, 0.0, span)
    corrected = rng.random(n) < out.correction_share
    f["correction_day"] = np.where(
        corrected, rnd.start + uniform_int(rng, 14, np.maximum(7 * f["planned_weeks"] - 7, 14), n), -1
    )
    extend = corrected & ((rng.random(n) < 0.5) | old)
    f["planned_end_1"] = f["planned_end_0"] + 7 * uniform_int(rng, 4, 8, n) * extend
    delta = rng.choice(np.array([-2.0, 2.0, 3.0, 5.0]), n) * (corrected & ~extend)
    f["hours_min_1"] = np.maximum(f["hours_min_0"] + delta, 0.0)
    f["hours_max_1"] = np.maximum(f["hours_max_0"] + delta, f["hours_min_1"])


def _job_and_health(world: World, rnd: Round, rng: np.random.Generator) -> None:
    """When the job starts and how many hours it has, how long it lasts (the nested sustain
    draws), when a sick-listed citizen is declared fit, and rehabilitation grants."""
    f, n, out = rnd.f, len(rnd), world.outcomes
    beta = out.fit_day_beta
    f["fit_day"] = np.where(f["fit"], rnd.start + np.floor(182.99 * rng.beta(*beta, n)).astype(np.int64), -1)
    weights = np.array(out.job_start_month_weights)
    offset = rng.choice(6, n, p=weights / weights.sum())
    offset = np.where((f["paid_hours_baseline"] > 0) & (rng.random(n) < out.keep_side_job_share), 0, offset)
    fit_month = np.clip(month_of(f["fit_day"]) - month_of(rnd.start), 0, 5)
    offset = np.where(f["fit"] & (rng.random(n) < out.job_month_after_fit_share), fit_month, offset)
    f["job_offset"] = offset
    month_first, month_len = (
        rnd.month_first[np.arange(n), M0 + offset],
        rnd.month_len[np.arange(n), M0 + offset],
    )
    earliest = np.maximum(rnd.start, month_first)
    f["job_start"] = earliest + np.floor(rng.random(n) * 0.7 * (month_first + month_len - earliest)).astype(
        np.int64
    )
    level = _job_level(world, rng, f["score"])
    # a job found by someone already working some hours has at least those hours
    more = np.minimum(f["paid_hours_baseline"] * rng.uniform(1.0, 2.0, n), out.job_hours.full[1])
    level = np.where(f["paid_hours_baseline"] > 0, np.maximum(level, more), level)
    # still sick-listed (not declared fit): back to work part time only
    level = np.where(
        f["sick_open"] & ~f["fit"], np.minimum(level, uniform(rng, out.job_hours.part, n)), level
    )
    f["job_level"] = level
    last = offset + rng.integers(0, 3, n)
    last = np.where(f.get("sustained_3"), offset + 3 + rng.integers(0, 3, n), last)
    last = np.where(f.get("sustained_6"), offset + 6 + rng.integers(0, 6, n), last)
    last = np.where(f.get("sustained_12"), MONTHS_AFTER, last)
    f["job_last"] = np.minimum(last, MONTHS_AFTER)
    late = ~f["job"] & (rng.random(n) < out.late_job_share)
    f["late_job_offset"] = np.where(late, uniform_int(rng, 6, 14, n), MONTHS_AFTER + 1)
    f["late_job_level"] = _job_level(world, rng, f["score"])

    grant_type = categorical(rng, rnd.area, out.grant_types, REHAB_OUTCOMES)
    f["grant_type"] = grant_type
    f["grant_day"] = np.where(f["grant"], rnd.start + uniform_int(rng, 30, 365, n), -1)
    late_grant = ~f["grant"] & (rng.random(n) < out.late_grant_share)
    f["late_grant_day"] = np.where(late_grant, rnd.start + uniform_int(rng, 366, 540, n), -1)
    _case_end(world, rnd, rng)


def _job_level(world: World, rng: np.random.Generator, score: np.ndarray) -> np.ndarray:
    out, n = world.outcomes, len(score)
    full = rng.random(n) < expit(out.full_time_logit.intercept + out.full_time_logit.slope * score)
    part = ~full & (rng.random(n) < out.part_time_share)
    hours = out.job_hours
    return np.where(
        full,
        uniform(rng, hours.full, n),
        np.where(part, uniform(rng, hours.part, n), uniform(rng, hours.small, n)),
    )


def _case_end(world: World, rnd: Round, rng: np.random.Generator) -> None:
    """How the sickness case open at start ends: fit within 6 months as drawn; otherwise a
    grant of fleksjob or førtidspension ends it, or it ends later (or early for another
    reason)."""
    f, n, out = rnd.f, len(rnd), world.outcomes
    fully = rng.random(n) < out.fully_fit_share
    reason = np.where(fully, CASE_ENDS.index("fit"), CASE_ENDS.index("partially_fit"))
    end = f["fit_day"].copy()
    late = rng.random(n) < out.case_ends_late_share
    late_reason = categorical(rng, np.zeros(n), {0: out.case_end_late}, CASE_ENDS)
    early_reason = categorical(rng, np.zeros(n), {0: out.case_end_early}, CASE_ENDS)
    other_end = np.where(
        late, rnd.start + uniform_int(rng, 183, 500, n), rnd.start + uniform_int(rng, 0, 182, n)
    )
    not_fit = ~f["fit"]
    reason = np.where(not_fit, np.where(late, late_reason, early_reason), reason)
    end = np.where(not_fit, other_end, end)
    ends_by_grant = (
        not_fit
        & f["grant"]
        & np.isin(np.array(REHAB_OUTCOMES)[f["grant_type"]], ["flex_job", "disability_pension"])
    )
    grant_reason = np.array([CASE_ENDS.index(c) if c in CASE_ENDS else 0 for c in REHAB_OUTCOMES])[
        f["grant_type"]
    ]
    f["case_end"] = np.where(ends_by_grant, f["grant_day"], end)
    f["case_end_reason"] = np.where(ends_by_grant, grant_reason, reason)


def _course_end(world: World, rnd: Round, rng: np.random.Generator) -> None:
    """End reason and date, consistent with what happened: a job before the planned end ends
    the course with `job`, a fit declaration ends it, an education start with `education` …"""
    f, n, ends = rnd.f, len(rnd), world.outcomes.ends
    s, planned = rnd.start, f["planned_end_1"]
    length = 7 * f["planned_weeks"]
    u = rng.random((n, 6))
    dropout = expit(
        ends.dropout_logit.intercept + ends.dropout_logit.slope * f["score"] + 0.5 * f["effect_result"]
    )
    conditions = [
        f["job"] & (f["job_start"] <= planned) & (u[:, 0] < ends.job_share),
        f["fit"] & (f["fit_day"] <= planned) & (u[:, 1] < ends.fit_share),
        (f["purpose"] == PURPOSES.index("education")) & (u[:, 2] < ends.education_share),
        u[:, 3] < dropout,
        ~f["sick_open"] & (u[:, 4] < ends.sick_share),
        u[:, 5] < ends.moved_share,
        u[:, 5] < ends.moved_share + ends.other_share,
    ]
    job_or_completed = np.where(f["job"], END_REASONS.index("job"), END_REASONS.index("completed"))
    reasons = (
        [np.full(n, END_REASONS.index(r)) for r in ("job",)]
        + [job_or_completed]
        + [np.full(n, END_REASONS.index(r)) for r in ("education", "dropout", "sick", "moved", "other")]
    )
    during = s + uniform_int(rng, 7, np.maximum(length, 8), n)
    dates = [
        f["job_start"] + rng.integers(0, 11, n),
        f["fit_day"] + rng.integers(0, 15, n),
        s + uniform_int(rng, 28, np.maximum(length, 29), n),
        during,
        during,
        during,
        during,
    ]
    f["end_reason"] = np.select(conditions, reasons, END_REASONS.index("completed"))
    f["end_date"] = np.maximum(np.select(conditions, dates, planned + rng.integers(-4, 4, n)), s)


# --- events after the start --------------------------------------------------------------------


def _results(world: World, rnd: Round, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Registered results within [start, end + grace] exactly for the referrals drawn with a
    result; the job itself when it started in that window; some earlier internships; some
    results registered too late to count."""
    f, n, out = rnd.f, len(rnd), world.outcomes
    s, window_end = rnd.start, f["end_date"] + out.result_grace_days
    other_type = categorical(rng, rnd.area, out.result_types, RESULT_TYPES)
    other_type = np.where(
        f["end_reason"] == END_REASONS.index("education"), RESULT_TYPES.index("education"), other_type
    )
    granted_flex = (
        f["grant"] & (f["grant_type"] == REHAB_OUTCOMES.index("flex_job")) & (f["grant_day"] <= window_end)
    )
    other_type = np.where(granted_flex, RESULT_TYPES.index("flex_job"), other_type)
    is_job = f["job"] & (f["job_start"] <= window_end) & (rng.random(n) < out.job_result_share)
    job_type = np.where(
        f["job_level"] >= out.full_time_hours,
        RESULT_TYPES.index("ordinary_job"),
        RESULT_TYPES.index("paid_hours"),
    )
    span = np.maximum(window_end - s - 7, 0)
    other_date = np.where(
        window_end - s >= 7, s + 7 + np.floor(rng.random(n) * (span + 1)).astype(np.int64), s
    )
    main_date = np.where(is_job, np.clip(f["job_start"] + rng.integers(0, 8, n), s, window_end), other_date)
    main_type = np.where(is_job, job_type, other_type)
    has = f["has_result"]
    second = has & (rng.random(n) < out.second_result_share) & (main_date - s >= 8)
    second_date = s + np.floor(rng.random(n) * (main_date - s - 1)).astype(np.int64)
    late = ~has & (rng.random(n) < out.late_result_share)
    late_date = window_end + uniform_int(rng, 1, 90, n)
    sel = [has, second, late]
    return {
        "ref": np.concatenate([rnd.ref[m] for m in sel]),
        "date": np.concatenate([main_date[has], second_date[second], late_date[late]]),
        "type": np.concatenate(
            [main_type[has], np.full(second.sum(), RESULT_TYPES.index("internship")), other_type[late]]
        ),
    }


def _decisions(world: World, rnd: Round, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Rehabilitation-team decisions: the grants drawn (within 12 months), late grants, and
    meetings that granted nothing."""
    f, n, out = rnd.f, len(rnd), world.outcomes
    other = ~f["grant"] & (rng.random(n) < out.other_decision_share)
    other_day = rnd.start + uniform_int(rng, 30, 365, n)
    other_outcome = categorical(rng, np.zeros(n), {0: out.other_decisions}, REHAB_OUTCOMES)
    late = f["late_grant_day"] >= 0
    sel = [f["grant"], late, other]
    day = np.concatenate([f["grant_day"][f["grant"]], f["late_grant_day"][late], other_day[other]])
    outcome = np.concatenate([f["grant_type"][f["grant"]], f["grant_type"][late], other_outcome[other]])
    return {
        "person": np.concatenate([rnd.person[m] for m in sel]),
        "decision_date": day,
        "meeting_date": day - rng.integers(0, 15, len(day)),
        "outcome": outcome,
    }


def _cases(rnd: Round) -> dict[str, np.ndarray]:
    """The sickness case open at each sick-listed start, and the closed case before a
    job-clarification course."""
    f = rnd.f
    sick, closed = f["sick_open"], f["closed_case"]
    return {
        "person": np.concatenate([rnd.person[sick], rnd.person[closed]]),
        "first_sick_day": np.concatenate([f["first_sick_day"][sick], f["closed_case_first"][closed]]),
        "case_end": np.concatenate([f["case_end"][sick], f["closed_case_end"][closed]]),
        "reason": np.concatenate(
            [f["case_end_reason"][sick], np.full(closed.sum(), CASE_ENDS.index("job_clarification"))]
        ),
    }


def _attendance(
    world: World, timeline: Timeline, rnd: Round, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """A row per course week: planned hours from the booked span (part weeks at the ends),
    attended hours from the citizen's attendance rate, falling off before a dropout."""
    f, cfg = rnd.f, world.outcomes.attendance
    last = np.minimum(f["end_date"], timeline.end_day)
    first_monday = monday_of(rnd.start)
    n_weeks = (monday_of(last) - first_monday) // 7 + 1
    row = np.repeat(np.arange(len(rnd)), n_weeks)
    week = np.arange(len(row)) - np.repeat(np.cumsum(n_weeks) - n_weeks, n_weeks)
    lo, hi = f["hours_min_1"][row], f["hours_max_1"][row]
    planned = lo + rng.random(len(row)) * (hi - lo)
    first_part = np.clip(5 - weekday(rnd.start), 0, 5) / 5
    last_part = np.minimum(weekday(last) + 1, 5) / 5
    planned *= np.where(week == 0, first_part[row], 1.0) * np.where(
        week == n_weeks[row] - 1, last_part[row], 1.0
    )
    planned = np.round(planned * 2) / 2
    rate = np.clip(
        cfg.mean + cfg.slope * (f["score"] + f["effect_result"]) + rng.normal(0, cfg.spread, len(rnd)),
        0.2,
        1.0,
    )
    weekly = np.clip(rate[row] + rng.normal(0, cfg.weekly_spread, len(row)), 0.0, 1.0)
    fading = (f["end_reason"][row] == END_REASONS.index("dropout")) & (week >= n_weeks[row] - 3)
    weekly = np.where(fading, weekly * cfg.dropout_factor, weekly)
    return {
        "ref": rnd.ref[row],
        "week_start": first_monday[row] + 7 * week,
        "planned": planned,
        "attended": np.round(planned * weekly * 2) / 2,
    }


def _aftermath(world: World, rnd: Round, rng: np.random.Generator) -> None:
    """Paid hours and benefit status from the start week on, so that the pipeline's measures
    find the drawn outcomes: hours > 0 from the job month to the last month in work; no benefit
    in the weeks of a month with full-time hours; the benefit that follows a case's end, an
    education start or a grant."""
    f, n, out = rnd.f, len(rnd), world.outcomes
    lm = np.arange(MONTHS_AFTER + 1)[None, :]
    employed = f["job"][:, None] & (lm >= f["job_offset"][:, None]) & (lm <= f["job_last"][:, None])
    noise = rng.uniform(0.85, 1.15, (n, MONTHS_AFTER + 1))
    hours = f["job_level"][:, None] * noise
    first = rnd.month_first[:, M0:][np.arange(n), f["job_offset"]]
    length = rnd.month_len[:, M0:][np.arange(n), f["job_offset"]]
    first_share = (first + length - f["job_start"]) / length
    hours = np.where(lm == f["job_offset"][:, None], hours * first_share[:, None], hours)
    late = lm >= f["late_job_offset"][:, None]
    late_hours = f["late_job_level"][:, None] * noise
    paid = np.where(
        employed, np.maximum(_round_hours(hours), 1.0), np.where(late, _round_hours(late_hours), 0.0)
    )
    rnd.hrs[:, M0:] = paid

    after = np.arange(rnd.ben.shape[1])[None, :] >= W0
    monday, month = rnd.monday, rnd.week_month.clip(0, MONTHS_AFTER)
    rows = np.arange(n)[:, None]
    status = np.broadcast_to(f["benefit_at_start"][:, None], rnd.ben.shape).copy()
    after_case = np.array([B[AFTER_CASE.get(CASE_ENDS[r], "none")] for r in range(len(CASE_ENDS))])[
        f["case_end_reason"]
    ]
    after_case = np.where((after_case == B["none"]) & ~f["job"], B["unemployment_benefit"], after_case)
    status = np.where(
        f["sick_open"][:, None] & (monday >= f["case_end"][:, None]), after_case[:, None], status
    )
    su_weeks = uniform_int(rng, *out.student_grant_weeks, n)
    education = (
        (f["end_reason"] == END_REASONS.index("education"))[:, None]
        & (monday >= f["end_date"][:, None])
        & (monday < (f["end_date"] + 7 * su_weeks)[:, None])
    )
    status = np.where(education, B["student_grant"], status)
    # full-time work means no benefit, except while a sickness case is still open
    still_sick = f["sick_open"][:, None] & (monday < f["case_end"][:, None])
    full_time = (paid[rows, month] >= out.full_time_hours) & ~still_sick
    status = np.where(full_time, B["none"], status)
    grant_day = np.where(f["grant_day"] >= 0, f["grant_day"], f["late_grant_day"])
    granted = (grant_day >= 0)[:, None] & (monday >= grant_day[:, None])
    grant_code = np.array([B.get(GRANT_BENEFIT.get(o, "none"), 0) for o in REHAB_OUTCOMES])[f["grant_type"]]
    in_flex_job = (grant_code == B["flex_unemployment"])[:, None] & (paid[rows, month] > 0)
    status = np.where(granted, np.where(in_flex_job, B["flex_job"], grant_code[:, None]), status)
    rnd.ben = np.where(after, status, rnd.ben).astype(np.int8)


def simulated_chunks(
    world: World,
    cfg: Scale,
    timeline: Timeline,
    market: Market,
    seed: int,
    booked: Mapping[int, np.ndarray] | None = None,
) -> Iterator[tuple[int, Cohort, ChunkResult]]:
    """The citizens of a seed chunk by chunk, with their simulated lives: one loop over the
    generator's streams ([seed, 1, chunk] citizens, [seed, 2, chunk] lives), so that the
    extracts and the policy simulation see exactly the same referrals. `booked` (per chunk, a
    provider index per referral, -1: the generator's own draw) is the hook through which a
    policy's bookings are written as extracts (pipeline/simulate/extracts.py)."""
    n_chunks_max = max(1, math.ceil(cfg.referrals / cfg.persons_per_chunk))
    done, chunk = 0, 0
    while done < cfg.referrals:
        citizens, lives = np.random.default_rng([seed, 1, chunk]), np.random.default_rng([seed, 2, chunk])
        left = cfg.referrals - done
        cohort = make_cohort(world, timeline, citizens, cfg.persons_per_chunk, left, chunk, n_chunks_max)
        if len(cohort.person) == 0:
            return
        yield (
            chunk,
            cohort,
            simulate(world, timeline, market, cohort, lives, None if booked is None else booked.get(chunk)),
        )
        done += len(cohort.person)
        chunk += 1
