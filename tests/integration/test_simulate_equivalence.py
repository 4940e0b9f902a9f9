"""`provmon simulate` judges with the pipeline's definitions (issue 18, item 1): one simulated
history (small world, seed 1, policy soft) is written as register extracts by the generator
(pipeline/simulate/extracts.py), ingested, built and decided by the real pipeline, and the
simulation's in-memory decision inputs and model B decisions on that history are compared with
fct_decision_inputs and mart_booking_decisions, month by month.

The simulation side is the closed loop replayed on the written history with the policy's
recorded bookings (run_policy(replay=)): the generator ends some courses on other days when a
referral is booked elsewhere, which the loop's own world does not redraw, so the comparison is
between the two implementations on identical data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipeline.build import build
from pipeline.decisions.inputs import primary_rows_by_month
from pipeline.decisions.reasons import load_templates
from pipeline.decisions.rules import Model
from pipeline.decisions.service import decide
from pipeline.ingest import ingest
from pipeline.settings import Settings
from pipeline.simulate.extracts import booked_providers, write_history, written_world
from pipeline.simulate.loop import PolicyRun, run_policy
from pipeline.simulate.measures import month_date
from pipeline.simulate.policies import policies
from pipeline.simulate.world import SimWorld, build_world, draw_outcomes

pytestmark = pytest.mark.integration

SEED = 1
KEY = ["month", "provider_id", "tender_area"]
COUNTS = ["n", "successes", "has_agreement", "agreement_ends_in_month"]
CLASSES = ["measure", "evidence", "adjustment_status", "cusum_signal"]
# Computed by the same formula from the same counts, but the warehouse's division and Wilson
# interval run in SQL (DuckDB doubles) and the simulation's in numpy: equal to the last bits.
RATES = ["rate", "wilson_low", "wilson_high", "area_rate", "area_rate_excl_provider"]
# The risk model is fitted by the same function (pipeline.stats.risk_adjust) on the same base,
# but the warehouse hands it the base in its own row order, and the CUSUM sums the same
# weights in a different grouping (the warehouse charts the whole history at once, the
# simulation month by month from the S it carried): float sums in another order.
FITTED = [
    "expected",
    "risk_adjusted_rate",
    "risk_adjusted_rate_low",
    "risk_adjusted_rate_high",
    "z_score",
    "cusum_s",
    "cusum_h",
]
TOLERANCE = 1e-9


@dataclass(frozen=True)
class History:
    sim: SimWorld  # the world of the written history
    replayed: PolicyRun  # the loop's measures and decisions on it
    warehouse: Path


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """The soft policy's closed-loop history on the small world, written, ingested, built and
    decided; and the loop replayed on the same history."""
    root = tmp_path_factory.mktemp("simulate_equivalence")
    soft = policies(["soft"])[0]
    templates = load_templates()
    sim = build_world("small", SEED)
    run = run_policy(sim, soft, templates)
    write_history(sim, run, root / "raw")
    written = written_world(sim, run)
    booked = booked_providers(sim, run)
    replayed = run_policy(written, soft, templates, replay=booked)
    settings = Settings.resolve(
        warehouse=str(root / "warehouse" / "warehouse.duckdb"),
        raw_dir=str(root / "raw"),
        out_dir=str(root / "reports"),
    )
    ingest(settings)
    build(settings)
    decide(settings, month_date(written.months[-1]))
    return History(written, replayed, settings.warehouse)


def query(history: History, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(history.warehouse), read_only=True) as con:
        return con.execute(sql).df()


def simulated_inputs(history: History) -> pd.DataFrame:
    return pd.DataFrame([asdict(r) for r in history.replayed.inputs]).sort_values(KEY, ignore_index=True)


def warehouse_inputs(history: History) -> pd.DataFrame:
    """fct_decision_inputs' primary-measure rows of the simulated months, read as the decision
    step reads them."""
    frame = query(history, "select * from fct_decision_inputs")
    rules = policies(["soft"])[0].rules
    months = {month_date(m) for m in history.sim.months}
    rows = [r for month, rs in primary_rows_by_month(frame, rules).items() if month in months for r in rs]
    return pd.DataFrame([asdict(r) for r in rows]).sort_values(KEY, ignore_index=True)


def test_the_written_history_is_the_one_the_policy_booked(history: History) -> None:
    """The generator's hook booked every referral where the policy did, and drew the outcome the
    loop draws there (the same uniform numbers): otherwise the comparison below compares
    nothing."""
    sim = history.sim
    refs = sim.referrals
    booked = history.replayed.bookings.sort_values("referral_id")
    ids = np.array(sim.market.provider_ids, dtype=object)
    assert (ids[refs["provider"].to_numpy()] == booked["provider_id"].to_numpy()).all()
    has_result, fit = draw_outcomes(sim, refs["provider"].to_numpy(), refs)
    assert (has_result == refs["has_result"].to_numpy()).all()
    assert (fit == refs["fit"].to_numpy()).all()


def test_the_same_provider_months_are_judged(history: History) -> None:
    sim, wh = simulated_inputs(history), warehouse_inputs(history)
    assert len(sim) > 0
    pd.testing.assert_frame_equal(sim[KEY], wh[KEY])


def test_counts_and_classes_are_equal(history: History) -> None:
    sim, wh = simulated_inputs(history), warehouse_inputs(history)
    columns = KEY + COUNTS + CLASSES
    pd.testing.assert_frame_equal(sim[columns], wh[columns], check_dtype=False)


def test_rates_and_fitted_numbers_are_equal_within_tolerance(history: History) -> None:
    sim, wh = simulated_inputs(history), warehouse_inputs(history)
    for column in RATES + FITTED:
        a = pd.to_numeric(sim[column], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(wh[column], errors="coerce").to_numpy(dtype=float)
        assert (np.isnan(a) == np.isnan(b)).all(), column
        both = ~np.isnan(a)
        np.testing.assert_allclose(a[both], b[both], rtol=TOLERANCE, atol=TOLERANCE, err_msg=column)


def test_model_b_decisions_are_equal(history: History) -> None:
    months = [month_date(m) for m in history.sim.months]
    wh = query(
        history,
        f"select * from mart_booking_decisions where model = '{Model.SOFT.value}'",
    )
    wh["month"] = pd.to_datetime(wh["month"]).dt.date
    wh = wh[wh["month"].isin(months)].sort_values(KEY, ignore_index=True)
    sim = history.replayed.decisions.sort_values(KEY, ignore_index=True)
    states = history.replayed.decisions["state"]
    assert (states != "GREEN").any(), "a history without any reduction proves little"
    columns = [
        *KEY,
        "state",
        "proposed_state",
        "previous_state",
        "share",
        "evidence",
        "review_required",
        "state_cohort_judged",
        "state_cohort_successes",
    ]
    pd.testing.assert_frame_equal(sim[columns], wh[columns], check_dtype=False)
