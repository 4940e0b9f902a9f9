"""The small synthetic world against its ground truth (issue 16 item 6): the course chains and
efterværn referrals the generator planted, and the tender change of 1 July 2024.

The chains are inferred here in pandas from landing with the rule of metrics.md (a referral
ended `rebooked` is continued by the one naming it in previous_referral_id, else by the same
person's next referral to the same provider and tender area starting within 7 days after its
end) and compared with ground_truth.json; when the dbt model int_referrals_chained exists, its
course ids are compared too."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd
import pytest

from pipeline.build import published_schema
from pipeline.settings import GROUND_TRUTH_FILE, Settings

pytestmark = pytest.mark.integration

CHAIN_DAYS = 7  # metrics.md: a continuation starts within 7 days after the rebooked end
AREA_PROVIDERS = {"before": {1: 5, 2: 4, 3: 2, 4: 2}, "after": {1: 4, 2: 3, 3: 2, 4: 2}}


def query(settings: Settings, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql).df()


def newest(settings: Settings, extract: str, key: str) -> pd.DataFrame:
    return query(
        settings,
        f"SELECT * FROM landing.{extract} QUALIFY row_number() OVER "
        f"(PARTITION BY {key} ORDER BY _delivery_date DESC, _load_id DESC, _row_number DESC) = 1",
    )


@pytest.fixture(scope="module")
def truth(small_warehouse: Settings) -> dict[str, Any]:
    return json.loads((small_warehouse.raw_dir / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def referrals(small_warehouse: Settings) -> pd.DataFrame:
    """Referrals as last delivered, with their agreement's provider, area, offer and validity."""
    agreements = newest(small_warehouse, "agreements", "agreement_id")
    refs = newest(small_warehouse, "referrals", "referral_id")
    columns = ["agreement_id", "provider_id", "tender_area", "offer_code", "valid_from", "valid_to"]
    merged = refs.merge(agreements[columns], on="agreement_id", how="left")
    for column in ("start_date", "end_date", "valid_from", "valid_to"):
        merged[column] = pd.to_datetime(merged[column])
    return merged


@pytest.fixture(scope="module")
def quarantined_ids(small_warehouse: Settings) -> set[str]:
    """Referral ids of quarantined referral rows: their chains may be incomplete in landing."""
    records = query(small_warehouse, "SELECT record FROM quarantine.rows WHERE extract = 'referrals'")
    ids = {json.loads(r).get("referral_id") for r in records["record"] if r}
    return {i for i in ids if i}


def inferred_courses(refs: pd.DataFrame) -> dict[str, list[str]]:
    """Chains of two or more links by the rule of metrics.md, keyed by their first referral."""
    by_id = refs.set_index("referral_id")
    rebooked = refs[refs["end_reason"] == "rebooked"]
    named = refs.dropna(subset=["previous_referral_id"]).set_index("previous_referral_id")["referral_id"]
    nxt: dict[str, str] = {}
    for _, a in rebooked.iterrows():
        if a["referral_id"] in named.index:
            nxt[a["referral_id"]] = named[a["referral_id"]]
            continue
        end = pd.Timestamp(a["end_date"])
        cand = refs[
            (refs["person_key"] == a["person_key"])
            & (refs["provider_id"] == a["provider_id"])
            & (refs["tender_area"] == a["tender_area"])
            & (pd.to_datetime(refs["start_date"]) >= end)
            & (pd.to_datetime(refs["start_date"]) <= end + pd.Timedelta(days=CHAIN_DAYS))
            & (refs["referral_id"] != a["referral_id"])
        ]
        if len(cand):
            nxt[a["referral_id"]] = cand.sort_values(["start_date", "referral_id"]).iloc[0]["referral_id"]
    continued = set(nxt.values())
    courses = {}
    for first in sorted(set(nxt) - continued):
        links = [first]
        while links[-1] in nxt:
            links.append(nxt[links[-1]])
        courses[first] = links
    assert set(by_id.index) >= continued
    return courses


def comparable(courses: dict[str, list[str]], excluded: set[str]) -> dict[str, list[str]]:
    return {k: v for k, v in courses.items() if not excluded & set(v)}


def test_about_one_course_in_six_before_the_change_is_rebooked(truth: dict, referrals: pd.DataFrame) -> None:
    change = pd.Timestamp(truth["tender"]["change_date"])
    links = {link for chain in truth["chains"]["courses"].values() for link in chain[1:]}
    aftercare = set(truth["chains"]["aftercare"])
    old = referrals[(referrals["start_date"] < change) & ~referrals["referral_id"].isin(links | aftercare)]
    share = len(truth["chains"]["courses"]) / len(old)
    assert 0.12 <= share <= 0.22, share
    named = set(truth["chains"]["named_links"])
    assert 0 < len(named) < len(links), "some continuations must name their referral, some not"
    assert any(len(chain) >= 3 for chain in truth["chains"]["courses"].values())


def test_the_chains_inferred_by_the_rule_are_the_planted_chains(
    truth: dict, referrals: pd.DataFrame, quarantined_ids: set[str]
) -> None:
    planted = comparable(truth["chains"]["courses"], quarantined_ids)
    found = comparable(inferred_courses(referrals), quarantined_ids)
    assert len(planted) > 50
    assert found == planted


def test_no_rebooking_after_the_tender_change(truth: dict, referrals: pd.DataFrame) -> None:
    change = pd.Timestamp(truth["tender"]["change_date"])
    links = [link for chain in truth["chains"]["courses"].values() for link in chain]
    starts = referrals.set_index("referral_id").loc[links, "start_date"]
    assert (starts < change).all()
    new = referrals[referrals["start_date"] >= change]
    assert not (new["end_reason"] == "rebooked").any()
    assert (new["hours_min"] < new["hours_max"]).any(), "new agreements book an hour span"
    old = referrals[referrals["start_date"] < change].dropna(subset=["hours_min"])
    assert (old["hours_min"] == old["hours_max"]).all(), "old agreements book fixed hours"


def test_aftercare_follows_a_job_or_education(truth: dict, referrals: pd.DataFrame) -> None:
    aftercare = set(truth["chains"]["aftercare"])
    eftv = set(referrals.loc[referrals["offer_code"] == "eftv", "referral_id"])
    assert aftercare and aftercare == eftv
    by_person = referrals.sort_values("start_date").groupby("person_key")
    for _, row in referrals[referrals["referral_id"].isin(aftercare)].iterrows():
        before = by_person.get_group(row["person_key"])
        before = before[
            (before["end_date"] <= row["start_date"]) & (before["referral_id"] != row["referral_id"])
        ]
        assert len(before) and before.iloc[-1]["end_reason"] in ("job", "education"), row["referral_id"]


def test_no_referral_of_the_new_period_is_on_an_old_agreement(truth: dict, referrals: pd.DataFrame) -> None:
    change = pd.Timestamp(truth["tender"]["change_date"])
    new = referrals[referrals["start_date"] >= change]
    assert len(new) > 100
    assert (new["valid_from"] >= change).all()
    within = (referrals["start_date"] >= referrals["valid_from"]) & (
        referrals["valid_to"].isna() | (referrals["start_date"] <= referrals["valid_to"])
    )
    assert within.all(), referrals.loc[~within, ["referral_id", "agreement_id", "start_date"]].head()


def test_the_tender_changes_the_providers_of_each_area(truth: dict, referrals: pd.DataFrame) -> None:
    change = pd.Timestamp(truth["tender"]["change_date"])
    for period, rows in (
        ("before", referrals["start_date"] < change),
        ("after", referrals["start_date"] >= change),
    ):
        courses = referrals[rows & (referrals["offer_code"] != "eftv")]
        counts = courses.groupby("tender_area")["provider_id"].nunique().to_dict()
        assert counts == AREA_PROVIDERS[period], period
    before = set(referrals.loc[referrals["start_date"] < change, "provider_id"])
    after = set(referrals.loc[referrals["start_date"] >= change, "provider_id"])
    assert before - after and after - before


def test_prices_by_offer(small_warehouse: Settings) -> None:
    """The high week price only for HELH, efterværn 575-700 (both indexed yearly), and a day
    price per calendar day (a seventh of a week's)."""
    ag = newest(small_warehouse, "agreements", "agreement_id")
    week = ag["price_dkk"].where(ag["price_model"] == "week", ag["price_dkk"] * 7)
    index = 1.025**4  # at most four yearly indexations within the small period
    helh = ag["offer_code"] == "helh"
    eftv = ag["offer_code"] == "eftv"
    assert week[helh].between(1850 - 4, 2150 * index + 4).all()
    assert (week[~helh] < 1850).all()
    assert week[eftv].between(575 - 4, 700 * index + 4).all()


def chained_model_exists(settings: Settings) -> bool:
    tables = query(settings, "SELECT table_name FROM information_schema.tables")
    return "int_referrals_chained" in set(tables["table_name"])


def test_dbt_chains_equal_the_planted_chains(
    small_warehouse: Settings, truth: dict, quarantined_ids: set[str]
) -> None:
    """int_referrals_chained (referral_id, course_id) groups the links exactly as planted."""
    if not chained_model_exists(small_warehouse):
        pytest.skip("int_referrals_chained is not built in this branch")
    # an intermediate model lives in the published build's own schema, not in main (pipeline.build)
    schema = f"{published_schema(small_warehouse.warehouse)}_intermediate"
    chained = query(small_warehouse, f"SELECT referral_id, course_id FROM {schema}.int_referrals_chained")
    groups = chained.groupby("course_id")["referral_id"].apply(lambda s: sorted(s)).to_dict()
    found = {k: v for k, v in groups.items() if len(v) > 1}
    planted = {k: sorted(v) for k, v in truth["chains"]["courses"].items()}
    assert comparable(found, quarantined_ids) == comparable(planted, quarantined_ids)
