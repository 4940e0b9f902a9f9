"""One simulated history written as the register extracts the pipeline ingests, so that a test
can prove the closed loop's in-memory measures and decisions equal the warehouse's on the same
data (issue 18; tests/integration/test_simulate_equivalence.py).

The extracts are written by the generator itself (`pipeline.generate.generate`, its writers and
its synthetic-data marker), with its booking hook: each referral of the simulated period is
booked with the provider the policy booked it with, and every later draw of the generator (the
outcomes from the same uniform numbers, the course's end, the result rows, the sickness case's
end, the registers after the start) follows that provider. No dirt, no rebooking chains and no
aftercare referrals (the simulated world has none). Referrals after the simulated period are
booked as the generator books them; they cannot reach the measures of the period's months.

The course's end in the generator depends on the provider's effect (dropout), which the closed
loop does not redraw: the written history can end some courses on other days than the loop's
world. `written_world` is therefore the world of the written history (the same generator run,
in memory), and the loop is replayed on it with the recorded bookings (`run_policy(replay=)`):
what the test compares is the loop's measure and decision code against the warehouse's on
identical data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.generate import GenerateSummary, generate
from pipeline.simulate.loop import PolicyRun
from pipeline.simulate.world import SimWorld, build_world


def booked_providers(sim: SimWorld, run: PolicyRun) -> np.ndarray:
    """The provider index each referral of the period was booked with (indexed by referral_id)."""
    index = {p: i for i, p in enumerate(sim.market.provider_ids)}
    order = run.bookings.sort_values("referral_id")
    if not np.array_equal(order["referral_id"].to_numpy(), np.arange(len(sim.referrals))):
        raise ValueError("the run's bookings are not one row per referral of the world")
    return order["provider_id"].map(index).to_numpy(dtype=np.int64)


def booked_by_chunk(sim: SimWorld, providers: np.ndarray) -> dict[int, np.ndarray]:
    """The generator's booking hook: per chunk, a provider index per referral of the chunk
    (-1: the generator's own draw, for the referrals after the simulated period)."""
    out = {c: np.full(n, -1, dtype=np.int64) for c, n in enumerate(sim.chunk_sizes)}
    refs = sim.referrals
    for chunk, rows in refs.groupby("chunk"):
        out[int(chunk)][rows["ref"].to_numpy()] = providers[rows["referral_id"].to_numpy()]
    return out


def write_history(sim: SimWorld, run: PolicyRun, out: Path) -> GenerateSummary:
    """Write the history `run` booked on `sim` into `out` as generator-written extracts."""
    booked = booked_by_chunk(sim, booked_providers(sim, run))
    return generate(sim.scale, sim.seed, Path(out), dirt_rate=0.0, booked=booked, chains=False)


def written_world(sim: SimWorld, run: PolicyRun) -> SimWorld:
    """The world of the history `write_history` writes: the same generator draws with the same
    bookings, over the same months."""
    booked = booked_by_chunk(sim, booked_providers(sim, run))
    return build_world(sim.scale, sim.seed, len(sim.months), sim.world, booked=booked)
