"""Agreement periods in the decision engine (decisions.md, "Who gets a decision"): no decision
without a valid agreement, "aftale udløbet" once in the month the last agreement ends, and a
provider new in the area starts GREEN / OPEN as "ny leverandør" with a full share."""

from dataclasses import replace
from datetime import date

import pytest

from pipeline.decisions import (
    HardMemory,
    HardState,
    Model,
    ProviderMemory,
    SoftMemory,
    SoftState,
    allocate,
    decisions_frame,
    memory_from_frame,
)
from pipeline.decisions.evidence import Evidence
from tests.unit.test_decisions_engine import by_model, decide, pm

JUN, JUL, AUG, SEP = (date(2024, m, 1) for m in (6, 7, 8, 9))
RED_STOP = ProviderMemory(
    SoftMemory(SoftState.RED, evidence=Evidence.ALARM), HardMemory(HardState.STOP, JUN, Evidence.BELOW)
)


def test_a_row_without_a_valid_agreement_gets_no_decision() -> None:
    rows = [pm(JUL, "P01", 50, 15), pm(JUL, "P05", 50, 2, has_agreement=False)]
    decided = decide(JUL, rows, {("P05", 1): RED_STOP})
    assert {r.provider_id for r in decided.rows} == {"P01"}
    assert ("P05", 1) not in decided.memory


def test_the_month_the_last_agreement_ends_says_so_once_and_then_the_provider_is_gone() -> None:
    june = decide(JUN, [pm(JUN, "P01", 50, 15), pm(JUN, "P05", 50, 15, agreement_ends_in_month=True)])
    p05 = [r for r in june.rows if r.provider_id == "P05"]
    assert len(p05) == 2
    for r in p05:
        assert r.agreement_ends_in_month
        assert r.reason.endswith("Aftale udløbet: ingen tilstand og ingen nye henvisninger fra juli 2024.")
    assert not any(r.agreement_ends_in_month for r in june.rows if r.provider_id == "P01")
    assert ("P05", 1) not in june.memory
    # next month: no row at all (its base is empty) and no memory -> no decision
    july = decide(JUL, [pm(JUL, "P01", 50, 15)], june.memory)
    assert {r.provider_id for r in july.rows} == {"P01"}
    # the stored rows give the same memory (provmon decide continues from the stored month)
    assert memory_from_frame(decisions_frame(june.rows)) == june.memory


def test_a_new_provider_starts_green_and_open_as_ny_leverandoer() -> None:
    rows = [pm(JUL, "P01", 50, 15), pm(JUL, "P13", 0, 0)]
    july = decide(JUL, rows, {("P01", 1): ProviderMemory()})
    for model, state in ((Model.SOFT, "GREEN"), (Model.HARD, "OPEN")):
        row = by_model([r for r in july.rows if r.provider_id == "P13"], model)
        assert (row.state, row.evidence, row.reason_code, row.share) == (
            state,
            "insufficient",
            "new_provider",
            1.0,
        )
        assert row.reason.startswith("Ny leverandør i området")
    # still no mature referral: still new; the first mature referrals end it
    august = decide(AUG, [pm(AUG, "P01", 50, 15), pm(AUG, "P13", 0, 0)], july.memory)
    assert {r.reason_code for r in august.rows if r.provider_id == "P13"} == {"new_provider"}
    assert memory_from_frame(decisions_frame(august.rows)) == august.memory
    september = decide(SEP, [pm(SEP, "P01", 50, 15), pm(SEP, "P13", 3, 1)], august.memory)
    codes = {r.reason_code for r in september.rows if r.provider_id == "P13"}
    assert codes == {"insufficient"}


def test_a_known_provider_whose_base_empties_is_not_new() -> None:
    known = {("P02", 1): ProviderMemory(SoftMemory(SoftState.GREEN, evidence=Evidence.OK))}
    rows = decide(JUL, [pm(JUL, "P01", 50, 15), pm(JUL, "P02", 0, 0)], known).rows
    assert {r.reason_code for r in rows if r.provider_id == "P02"} == {"insufficient"}


@pytest.mark.parametrize("capacity", [None, 4.0])
def test_a_new_provider_gets_its_full_fair_share(capacity: float | None) -> None:
    rows = decide(JUL, [pm(JUL, "P01", 50, 15), pm(JUL, "P13", 0, 0)], {("P01", 1): ProviderMemory()}).rows
    frame = decisions_frame(rows)
    frame = frame[frame["model"] == "soft"]
    result = allocate(frame, {1: 10.0}, {("P01", 1): capacity, ("P13", 1): capacity}).providers
    shares = dict(zip(result["provider_id"], result["allocation_share"], strict=True))
    assert shares["P13"] > 0
    assert shares["P13"] == pytest.approx(shares["P01"])


def test_rows_without_the_agreement_columns_assume_an_agreement() -> None:
    row = replace(pm(JUL, "P01", 50, 15))
    assert row.has_agreement and not row.agreement_ends_in_month
