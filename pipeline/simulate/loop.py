"""The closed loop of one policy on one world, month by month:

1. the month's new referrals are booked with the area's providers by the shares the policy
   decided last month (a provider new in the area gets its full share), each with its own
   uniform number, so the same citizens arrive under every policy;
2. their outcomes are drawn from the world's true effects (world.draw_outcomes);
3. the month's measures are computed from what is known at its last day, and the policy
   decides the next month's shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.decisions.engine import Key, ProviderMemory, decisions_frame
from pipeline.decisions.inputs import ProviderMonth
from pipeline.decisions.reasons import Templates
from pipeline.decisions.rules import Model
from pipeline.generate.timeline import NULL
from pipeline.parameters import dbt_var_defaults, measure_parameters
from pipeline.simulate.adapter import booking_weights, decide
from pipeline.simulate.measures import MEASURE_DRIVERS, Measures, _month_number, month_date
from pipeline.simulate.policies import Policy
from pipeline.simulate.world import SimWorld, draw_outcomes, month_first_day, month_last_day, truly_worse
from pipeline.stats.config import load_stats_config
from pipeline.stats.cusum import CusumParams


@dataclass(frozen=True)
class PolicyRun:
    """What one policy did on one world."""

    policy: str
    seed: int
    bookings: pd.DataFrame  # one row per referral: provider, success, in_population, truly_worse
    decisions: pd.DataFrame  # the policy's decision rows (empty for "none")
    inputs: list[ProviderMonth] = field(default_factory=list)  # the decision inputs it judged by


def agreements_in(sim: SimWorld, month: int) -> pd.DataFrame:
    """Per provider and area with an agreement valid some day of the month: its summed
    capacity and whether none is valid in the next month (int_agreements_capacity_summed_to_months)."""
    first, last = month_first_day(month), month_last_day(month)
    nfirst, nlast = month_first_day(month + 1), month_last_day(month + 1)
    rows: dict[Key, list[float]] = {}
    following: set[Key] = set()
    for ag in sim.market.agreements:
        key = (sim.market.provider_ids[ag.provider], int(ag.area))
        open_end = ag.valid_to == NULL
        if ag.valid_from <= last and (open_end or ag.valid_to >= first):
            rows.setdefault(key, []).append(float(ag.capacity))
        if ag.valid_from <= nlast and (open_end or ag.valid_to >= nfirst):
            following.add(key)
    return pd.DataFrame(
        [(p, a, sum(c), (p, a) not in following) for (p, a), c in sorted(rows.items())],
        columns=["provider_id", "tender_area", "capacity", "ends"],
    )


def _book(sim: SimWorld, rows: pd.DataFrame, weights: dict[Key, float]) -> np.ndarray:
    """The provider of each referral: among those with an open agreement for its area and
    offer in its start month, by the allocation's expected referrals (all equal where none of
    them may receive: the citizen still needs a course), by the referral's own uniform."""
    market = sim.market
    offers = rows["offer_code"].map({o: i for i, o in enumerate(market.offers)}).to_numpy()
    area = rows["tender_area"].to_numpy()
    month = rows["start_month"].to_numpy()
    open_ = (market.open_from[area, offers] <= month[:, None]) & (
        month[:, None] < market.open_to[area, offers]
    )
    ids = market.provider_ids
    w = np.array([[weights.get((ids[p], int(a)), 0.0) for p in range(len(ids))] for a in area]) * open_
    w = np.where(w.sum(axis=1, keepdims=True) > 0, w, open_.astype(float))
    cum = np.cumsum(w, axis=1)
    draw = rows["u_book"].to_numpy() * cum[:, -1]
    return (cum <= draw[:, None]).sum(axis=1)


def run_policy(
    sim: SimWorld,
    policy: Policy,
    templates: Templates,
    progress: Callable[[], None] | None = None,
    replay: np.ndarray | None = None,
) -> PolicyRun:
    """Run `policy` on `sim` over its months. `replay` (a provider index per referral_id)
    books every referral where a recorded history booked it instead of by the policy's shares,
    so the measures and decisions of a history written as extracts can be compared with the
    warehouse's (pipeline/simulate/extracts.py)."""
    parameters = measure_parameters()
    primary = {a: policy.rules.area(a).primary_measure for a in sim.areas}
    measures = Measures(
        sim,
        primary,
        load_stats_config(),
        CusumParams.from_vars(dbt_var_defaults()),
        parameters.min_n,
    )
    volume_months = parameters.booking_volume_months
    memory: dict[Key, ProviderMemory] = {}
    shares: dict[Key, float] = {}
    booked, decided, judged = [], [], []
    refs = sim.referrals
    for month in sim.months:
        agreements = agreements_in(sim, month)
        capacity = {
            (p, int(a)): c
            for p, a, c in agreements[["provider_id", "tender_area", "capacity"]].itertuples(index=False)
        }
        full = {k: shares.get(k, 1.0) for k in capacity}  # new in the area: its full share
        counts = (
            refs[refs["start_month"].between(month - volume_months, month - 1)].groupby("tender_area").size()
        )
        volumes = {int(a): n / volume_months for a, n in counts.items()}
        rows = refs[refs["start_month"] == month]
        provider = (
            _book(sim, rows, booking_weights(full, volumes, capacity))
            if replay is None
            else replay[rows["referral_id"].to_numpy()]
        )
        has_result, fit = draw_outcomes(sim, provider, rows)
        rows = rows.assign(provider=provider, has_result=has_result, fit=fit)
        measures.book(rows)
        booked.append(rows)
        if policy.model is not None:
            inputs = measures.provider_rows(
                month, agreements, signals=policy.early_warning, model_b=policy.model == Model.SOFT
            )
            mine, memory = decide(policy, month, inputs, measures, memory, templates)
            judged += inputs
            shares = {(r.provider_id, r.tender_area): r.share for r in mine}
            decided += mine
        if progress:
            progress()
    bookings = _bookings(sim, pd.concat(booked, ignore_index=True), primary)
    frame = decisions_frame(decided)
    if len(frame):
        frame["truly_worse"] = [
            truly_worse(
                sim,
                sim.market.provider_ids.index(r.provider_id),
                _month_number(r.month),
                MEASURE_DRIVERS[r.measure],
            )
            for r in frame.itertuples()
        ]
    return PolicyRun(policy.name, sim.seed, bookings, frame, judged)


def _bookings(sim: SimWorld, rows: pd.DataFrame, primary: dict[int, str]) -> pd.DataFrame:
    """Per referral: success on its area's primary measure (NaN outside its population) and
    whether its provider was truly worse on that measure's driver in its start month."""
    measure = rows["tender_area"].map(primary)
    aftercare = rows["offer_code"] == sim.world.aftercare.offer
    is_fit = measure == "fit_within_6m"
    population = ~aftercare & (~is_fit | rows["sick_open"])
    success = np.where(is_fit, rows["fit"], rows["has_result"]).astype(float)
    driver = measure.map(MEASURE_DRIVERS).map(
        lambda d: ["paid_hours", "sustained", "result", "fit", "rehab_grant"].index(d)
    )
    dropped = (rows["start_month"].to_numpy() >= sim.market.drop_month[rows["provider"].to_numpy()]).astype(
        int
    )
    effect = sim.market.effects[rows["provider"].to_numpy(), driver.to_numpy(), dropped]
    return pd.DataFrame(
        {
            "referral_id": rows["referral_id"],
            "month": [month_date(int(m)) for m in rows["start_month"]],
            "tender_area": rows["tender_area"],
            "provider_id": np.array(sim.market.provider_ids, dtype=object)[rows["provider"].to_numpy()],
            "in_population": population.to_numpy(),
            "success": np.where(population, success, np.nan),
            "truly_worse": effect < 0,
        }
    )
