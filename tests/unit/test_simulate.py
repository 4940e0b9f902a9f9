"""provmon simulate (issue 18): the closed loop on the generator's small world.

The world of seed 1 over its first 12 months has one planted truly worse provider in area 1
(P02, result effect -0.6 from the start) and providers with true effect zero. Checked against
the world's own truth (market effects), not against numbers the simulation printed."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.decisions.reasons import load_templates
from pipeline.decisions.rules import RULES_FILE
from pipeline.generate.config import DRIVERS
from pipeline.simulate.loop import PolicyRun, run_policy
from pipeline.simulate.outputs import run_metrics
from pipeline.simulate.policies import policies
from pipeline.simulate.world import build_world

MONTHS = 12


@pytest.fixture(scope="module")
def world():
    return build_world("small", 1, MONTHS)


@pytest.fixture(scope="module")
def never_reduces(tmp_path_factory) -> Path:
    """A candidate rule file whose every state keeps the full share."""
    path = tmp_path_factory.mktemp("rules") / "never.yaml"
    text = RULES_FILE.read_text(encoding="utf-8")
    text = text.replace("share: 0.5", "share: 1.0").replace("share: 0.0", "share: 1.0")
    assert "share: 0.0" not in text and "share: 0.5" not in text
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(world, never_reduces):
    templates = load_templates()
    return {
        p.name: run_policy(world, p, templates) for p in policies(["none", "hard", "soft"], never_reduces)
    }


def _worse_in_area_1(world) -> str:
    effects = world.market.effects[:, DRIVERS.index("result"), 0]
    area_1 = set(world.referrals.loc[world.referrals["tender_area"] == 1, "provider"])
    worse = [world.market.provider_ids[p] for p in sorted(area_1) if effects[p] < 0]
    assert worse, "the small world plants a worse provider in area 1"
    return worse[0]


def test_hard_and_soft_send_fewer_referrals_to_the_worse_provider(world, runs):
    worse = _worse_in_area_1(world)

    def sent(name: str) -> int:
        b = runs[name].bookings
        return int(((b["provider_id"] == worse) & (b["tender_area"] == 1)).sum())

    assert sent("hard") < sent("none")
    assert sent("soft") < sent("none")


def test_a_rule_file_that_never_reduces_equals_none(runs):
    never, none = runs["never"].bookings, runs["none"].bookings
    assert (runs["never"].decisions["share"] == 1.0).all()
    assert never["provider_id"].tolist() == none["provider_id"].tolist()
    assert np.array_equal(never["success"].to_numpy(), none["success"].to_numpy(), equal_nan=True)


def test_same_citizens_arrive_under_every_policy(runs):
    ids = {name: run.bookings["referral_id"].tolist() for name, run in runs.items()}
    assert len({tuple(v) for v in ids.values()}) == 1


def test_deterministic_for_a_seed(world, runs):
    soft = next(iter(policies(["soft"])))
    again = run_policy(build_world("small", 1, MONTHS), soft, load_templates())
    assert again.bookings.equals(runs["soft"].bookings)
    assert again.decisions.drop(columns=["reason"]).equals(runs["soft"].decisions.drop(columns=["reason"]))


def test_outcome_at_the_generators_provider_is_the_generators(world):
    from pipeline.simulate.world import draw_outcomes

    r = world.referrals
    has_result, fit = draw_outcomes(world, r["provider"].to_numpy(), r)
    assert np.array_equal(has_result, r["has_result"].to_numpy())
    assert np.array_equal(fit, r["fit"].to_numpy())


# A finding, not a pass: in seeds 1 and 3 the soft rules reduce a provider whose true effect is
# zero (seed 1 P04, the hard-intake provider, ORANGE/RED from 2023-11: 19 results where its true
# probabilities expect 27,7, z about -2,2, so chance, not case mix the risk model failed to remove;
# seed 3 P01, two months running below the 95 % limit by chance). With 95 % limits checked every
# month such chance reductions are expected in some seeds. docs/simulate.md says so; the marks
# are strict, so a change of the rules that removes them shows up here.
_FALSE_REDUCTION = pytest.mark.xfail(
    strict=True, reason="issue 18 finding: soft reduces a true-zero provider"
)


@pytest.mark.parametrize(
    "seed", [pytest.param(1, marks=_FALSE_REDUCTION), 2, pytest.param(3, marks=_FALSE_REDUCTION)]
)
def test_soft_never_reduces_a_provider_with_true_effect_zero(seed):
    sim = build_world("small", seed)
    soft = next(iter(policies(["soft"])))
    d = run_policy(sim, soft, load_templates()).decisions
    zero = [
        sim.market.provider_ids[p]
        for p in range(len(sim.market.provider_ids))
        if not sim.market.effects[p, DRIVERS.index("result")].any()
        and not sim.market.effects[p, DRIVERS.index("fit")].any()
    ]
    reduced = d[d["provider_id"].isin(zero) & (d["share"] < 1)]
    assert reduced.empty, reduced[["month", "provider_id", "tender_area", "state", "evidence"]].to_string()


def test_cli_writes_the_tables(tmp_path):
    from pipeline.cli import main

    out = tmp_path / "sim"
    assert (
        main(["simulate", "--seeds", "1", "--months", "3", "--policy", "none", "soft", "--out", str(out)])
        == 0
    )
    md = (out / "simulate.md").read_text(encoding="utf-8")
    assert "| Mål | none | soft |" in md
    assert "Resultater pr. 100 henvisninger" in (out / "simulate.html").read_text(encoding="utf-8")
    shutil.rmtree(out)


def _decision_rows(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """Decision rows (month, provider, state, share) of one area, previous_state from the row
    before of the same provider."""
    frame = pd.DataFrame(rows, columns=["month", "provider_id", "state", "share"])
    frame["month"] = pd.to_datetime(frame["month"]).dt.date
    frame["previous_state"] = frame.groupby("provider_id")["state"].shift()
    return frame.assign(tender_area=1, truly_worse=False, review_required=False)


def test_reaction_time_and_missed_drops():
    """P1 drops in March and turns YELLOW in May (2 months); P2 drops in March and stays GREEN
    (missed); P3 was ORANGE before its drop in March (already reduced, not missed)."""
    months = ["2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"]
    rows = (
        [(m, "P1", s, 1.0) for m, s in zip(months, ["GREEN", "GREEN", "GREEN", "YELLOW"], strict=True)]
        + [(m, "P2", "GREEN", 1.0) for m in months]
        + [(m, "P3", "ORANGE", 0.5) for m in months]
    )
    bookings = pd.DataFrame(
        {"in_population": [True], "success": [1.0], "tender_area": [1], "truly_worse": [False]}
    )
    run = PolicyRun("soft", 1, bookings, _decision_rows(rows))
    drop = date(2024, 3, 1)
    metrics = run_metrics(run, [("P1", drop), ("P2", drop), ("P3", drop)])
    assert metrics["months_to_reaction"] == 2
    assert metrics["drops_missed"] == 1
    assert metrics["wrongly_reduced"] == 4  # P3's four months at share 0.5, truly no worse


def test_a_world_whose_statistics_another_policy_fitted_gives_the_same_run(world):
    """The month's risk adjustment is kept on the world by its base's content: soft-no-ew run
    after soft on one world (reusing soft's fits while their bookings agree) equals soft-no-ew
    on a fresh world that fits every month itself."""
    soft, no_ew = policies(["soft", "soft-no-ew"])
    shared = build_world("small", 1, MONTHS)
    run_policy(shared, soft, load_templates())
    fitted_by_soft = len(shared.stats_cache)
    reused = run_policy(shared, no_ew, load_templates())
    assert fitted_by_soft > 0 and len(shared.stats_cache) < 2 * fitted_by_soft  # soft's fits were read
    fresh = run_policy(build_world("small", 1, MONTHS), no_ew, load_templates())
    assert reused.bookings.equals(fresh.bookings)
    assert reused.decisions.drop(columns=["reason"]).equals(fresh.decisions.drop(columns=["reason"]))


def test_worlds_in_parallel_processes_give_the_same_result(tmp_path):
    from pipeline.simulate.run import simulate

    kwargs = {"scale": "small", "seeds": 2, "months": 4, "policy_names": ["none", "soft"], "progress": False}
    serial = simulate(**kwargs, out=tmp_path / "serial", jobs=1)
    parallel = simulate(**kwargs, out=tmp_path / "parallel", jobs=2)
    assert parallel.table.equals(serial.table)
    assert [(r.policy, r.seed) for r in parallel.runs] == [(r.policy, r.seed) for r in serial.runs]
    for p, s in zip(parallel.runs, serial.runs, strict=True):
        assert p.bookings.equals(s.bookings) and p.decisions.equals(s.decisions)
