"""`provmon decide` and `provmon decide override` on the small synthetic warehouse: what lands in
mart_booking_decisions, mart_booking_allocation, meta.decision_overrides and meta.rule_versions,
checked against independent computations (pandas over the landing and mart tables, statsmodels'
Wilson interval, scipy's normal quantiles, hashlib) rather than against the engine's own output."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pandas as pd
import pytest
import yaml
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

from pipeline.cli import main
from pipeline.decisions import OverrideError, load_rules
from pipeline.decisions.errors import DecisionInputError
from pipeline.decisions.rules import RULES_FILE
from pipeline.decisions.service import DecideSummary, decide, parse_model, parse_month, record_override
from pipeline.errors import ProvmonError
from pipeline.settings import Settings

pytestmark = pytest.mark.integration

RULES = load_rules()
KEY = ["month", "provider_id", "tender_area", "model"]


def query(settings: Settings, sql: str, params: list[object] | None = None) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).df()


def months_of(frame: pd.DataFrame, column: str = "month") -> pd.Series:
    return pd.to_datetime(frame[column]).dt.date


def stored(settings: Settings) -> pd.DataFrame:
    frame = query(
        settings, "SELECT * FROM main.mart_booking_decisions ORDER BY month, tender_area, provider_id, model"
    )
    return frame.assign(month=months_of(frame))


def primary_results(settings: Settings) -> pd.DataFrame:
    """The mart rows of each area's primary measure, from the build's dim_parameters."""
    params = query(settings, "SELECT parameter, value FROM main.dim_parameters")
    prefix = "primary_measures."
    measure = {
        int(p.removeprefix(prefix)): v for p, v in params.itertuples(index=False) if p.startswith(prefix)
    }
    frame = query(settings, "SELECT * FROM main.mart_provider_results")
    frame = frame[frame["measure"] == frame["tender_area"].map(measure)]
    return frame.assign(month=months_of(frame, "as_of_month"))


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as Python objects with None for missing, so that two reads of the same rows
    compare equal whatever dtype pandas chose for a column that happens to be all NULL."""
    return frame.astype(object).where(frame.notna(), None)


def danish_percent(share: float) -> str:
    """23.45 % -> '23,5 %' with half-up rounding, written independently of pipeline.danish."""
    value = Decimal(repr(share * 100)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{value} %".replace(".", ",")


@dataclass(frozen=True)
class Decided:
    settings: Settings
    summary: DecideSummary
    rows: pd.DataFrame


@pytest.fixture(scope="module")
def decided(warehouse_copy: Callable[[str], Settings]) -> Decided:
    settings = warehouse_copy("decided")
    summary = decide(settings)
    return Decided(settings, summary, stored(settings))


# --- provmon decide ---------------------------------------------------------------------------


def agreement_months(settings: Settings, months: pd.Series) -> pd.DataFrame:
    """(month, provider_id, tender_area, ends) for every month of `months` in which the provider
    holds an agreement in the area valid at least one day (pandas over the landing table);
    ends: none of its agreements in the area is valid any day of the next month."""
    agreements = newest(settings, "agreements", "agreement_id")
    start = pd.to_datetime(agreements["valid_from"])
    end = pd.to_datetime(agreements["valid_to"]).fillna(pd.Timestamp.max)
    rows = []
    for month in sorted(set(months)):
        first, last = pd.Timestamp(month), pd.Timestamp(month) + pd.offsets.MonthEnd(0)
        after_first, after_last = last + pd.Timedelta(days=1), last + pd.offsets.MonthEnd(1)
        valid = agreements[(start <= last) & (end >= first)]
        later = agreements[(start <= after_last) & (end >= after_first)]
        continuing = set(zip(later["provider_id"], later["tender_area"], strict=True))
        for key in set(zip(valid["provider_id"], valid["tender_area"], strict=True)):
            rows.append((month, key[0], int(key[1]), key not in continuing))
    return pd.DataFrame(rows, columns=["month", "provider_id", "tender_area", "ends"])


def test_every_provider_area_and_month_with_an_agreement_has_both_models_once(decided: Decided) -> None:
    rows = decided.rows
    assert not rows.duplicated(KEY).any()
    expected = agreement_months(decided.settings, rows["month"])
    keys = ["month", "provider_id", "tender_area"]
    for model in ("soft", "hard"):
        got = rows.loc[rows["model"] == model, [*keys, "agreement_ends_in_month"]]
        pd.testing.assert_frame_equal(
            got.sort_values(keys).reset_index(drop=True),
            expected.rename(columns={"ends": "agreement_ends_in_month"})
            .sort_values(keys)
            .reset_index(drop=True),
            check_dtype=False,
        )


def test_no_allocation_without_an_agreement_and_the_tender_change_is_followed(decided: Decided) -> None:
    settings = decided.settings
    alloc = query(settings, "SELECT * FROM main.mart_booking_allocation")
    alloc = alloc.assign(month=months_of(alloc))
    valid = agreement_months(settings, alloc["month"])
    merged = alloc.merge(valid, on=["month", "provider_id", "tender_area"], how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    # the tender change of 1 July 2024: P05, P09 and P11 end in June, P13 enters in July
    rows = decided.rows
    ended = rows[rows["agreement_ends_in_month"]]
    assert {(p, m) for p, m in zip(ended["provider_id"], ended["month"], strict=True)} >= {
        (p, date(2024, 6, 1)) for p in ("P05", "P09", "P11")
    }
    assert ended["reason"].str.contains("Aftale udløbet").all()
    assert not ((rows["provider_id"].isin(["P05", "P09", "P11"])) & (rows["month"] > date(2024, 6, 1))).any()
    p13 = rows[(rows["provider_id"] == "P13") & (rows["month"] == date(2024, 7, 1))]
    assert set(p13["state"]) == {"GREEN", "OPEN"}
    assert set(p13["evidence"]) == {"insufficient"}
    assert p13["reason"].str.startswith("Ny leverandør").all()
    assert (p13["share"] == 1.0).all()
    july = alloc[(alloc["month"] == date(2024, 7, 1)) & (alloc["provider_id"] == "P13")]
    assert len(july) == 2 and (july["allocation_share"] > 0).all()


def test_rule_version_is_the_hash_of_the_rule_file_and_the_builds_parameters(decided: Decided) -> None:
    """sha256 over rules.yaml's bytes, a NUL, the build's dim_parameters (the decision's
    parameters, typed, as sorted JSON), a NUL and reasons.yaml's bytes, recomputed here from the
    published rows."""
    content = RULES_FILE.read_bytes()
    published = dict(
        query(decided.settings, "SELECT parameter, value FROM main.dim_parameters").itertuples(index=False)
    )
    typed = {
        "min_n": int(published["min_n"]),
        "funnel_warning_level": float(published["funnel_warning_level"]),
        "funnel_alarm_level": float(published["funnel_alarm_level"]),
        "funnel_limits": published["funnel_limits"],
        "overdispersion": {
            "mode": published["overdispersion.mode"],
            "trigger_p": float(published["overdispersion.trigger_p"]),
            "winsorise": float(published["overdispersion.winsorise"]),
            "min_providers": int(published["overdispersion.min_providers"]),
        },
        "comparison_interval_level": float(published["comparison_interval_level"]),
        "primary_measures": {
            k.split(".")[1]: v for k, v in published.items() if k.startswith("primary_measures.")
        },
        "booking_volume_months": int(published["booking_volume_months"]),
    }
    parameters = json.dumps(typed, sort_keys=True, separators=(",", ":"))
    reasons = (RULES_FILE.parent / "reasons.yaml").read_bytes()
    version = hashlib.sha256(content + b"\0" + parameters.encode() + b"\0" + reasons).hexdigest()[:12]
    assert set(decided.rows["rule_version"]) == {version}
    versions = query(decided.settings, "SELECT * FROM meta.rule_versions")
    assert versions["rule_version"].tolist() == [version]
    assert versions["rules_text"].iloc[0] == content.decode("utf-8")
    assert json.loads(versions["parameters"].iloc[0]) == typed


def test_soft_model_is_shown_by_default(decided: Decided) -> None:
    rows = decided.rows
    assert (rows["shown"] == (rows["model"] == "soft")).all()


def test_each_month_continues_from_the_stored_month_before(decided: Decided) -> None:
    rows = decided.rows.sort_values(KEY)
    for _, own in rows.groupby(["provider_id", "tender_area", "model"]):
        before = own["state"].shift(1)
        consecutive = own["month"].map(lambda m: m.year * 12 + m.month).diff() == 1
        later = own[consecutive]
        assert (later["previous_state"] == before[consecutive]).all()
        assert own["previous_state"].iloc[0] is None or pd.isna(own["previous_state"].iloc[0])


def test_evidence_falls_back_to_the_unadjusted_binomial_comparison(decided: Decided) -> None:
    """Where the risk model did not fit (adjustment_status not 'adjusted': every row while the
    risk columns are NULL) the soft model judges the binomial z against the area rate; where it
    fitted, the mart's z-score. Either way against the funnel limits of scipy's normal, and the
    class is the statistics step's own (mart_provider_results.evidence), not classified again."""
    results = primary_results(decided.settings)
    soft = decided.rows[decided.rows["model"] == "soft"].merge(
        results[["month", "provider_id", "tender_area", "adjustment_status", "z_score", "evidence"]],
        on=["month", "provider_id", "tender_area"],
        suffixes=("", "_mart"),
    )
    min_n = soft["tender_area"].map(lambda a: RULES.area(a).min_n)
    judged = soft[(soft["n"] >= min_n) & soft["area_rate_excl_provider"].notna()]
    assert len(judged) > 0
    unadjusted = judged[judged["adjustment_status"] != "adjusted"]
    p = unadjusted["area_rate"]
    z = (unadjusted["successes"] - unadjusted["n"] * p) / (unadjusted["n"] * p * (1 - p)) ** 0.5
    assert (unadjusted["evidence_basis"] == "unadjusted").all()
    assert unadjusted["z_score"].to_numpy() == pytest.approx(z.to_numpy())
    adjusted = judged[judged["adjustment_status"] == "adjusted"]
    assert (adjusted["evidence_basis"] == "adjusted").all()
    assert adjusted["z_score"].to_numpy() == pytest.approx(adjusted["z_score_mart"].to_numpy())
    alarm, warning = norm.ppf(1 - (1 - 0.998) / 2), norm.ppf(1 - (1 - 0.95) / 2)
    z_all = judged["z_score"]
    expected = ["alarm" if v < -alarm else "warning" if v < -warning else "ok" for v in z_all]
    assert judged["evidence"].tolist() == expected
    assert judged["evidence"].tolist() == judged["evidence_mart"].tolist()


def test_hard_model_stops_below_the_ratio_of_the_area_rate(decided: Decided) -> None:
    hard = decided.rows[decided.rows["model"] == "hard"]
    min_n = hard["tender_area"].map(lambda a: RULES.area(a).min_n)
    judged = hard[(hard["n"] >= min_n) & hard["area_rate_excl_provider"].notna()]
    below = judged["successes"] / judged["n"] < 0.8 * judged["area_rate_excl_provider"] - 1e-9
    assert (judged["evidence"] == below.map({True: "below", False: "ok"})).all()
    assert judged["threshold"].to_numpy() == pytest.approx(0.8 * judged["area_rate_excl_provider"].to_numpy())
    came_open = (judged["previous_state"] == "OPEN") | judged["previous_state"].isna()
    assert below[came_open].any()
    assert (judged.loc[came_open & below, "state"] == "STOP").all()
    assert (judged.loc[came_open & ~below, "state"] == "OPEN").all()


def test_reason_sentence_shows_rate_interval_area_rate_and_n(decided: Decided) -> None:
    rows = decided.rows
    stopped = rows["reason_code"].isin(["stop_hold", "stop_lift", "stop_review"])  # on the lift cohort
    judged = rows[rows["evidence"].isin(["ok", "warning", "alarm", "below"]) & ~stopped]
    assert len(judged) > 0
    for r in judged.itertuples(index=False):
        low, high = proportion_confint(r.successes, r.n, alpha=0.05, method="wilson")
        assert danish_percent(r.successes / r.n) in r.reason
        assert f"{danish_percent(low).removesuffix(' %')}–{danish_percent(high)}" in r.reason
        assert danish_percent(r.area_rate_excl_provider) in r.reason
        assert f"n = {r.n}" in r.reason
    for r in rows[stopped].itertuples(index=False):
        assert f"f de {r.cohort_ongoing_at_stop} forløb" in r.reason
        failures = r.cohort_closed - r.cohort_with_result
        if r.reason_code == "stop_review":
            assert f"{r.cohort_with_result} med resultat og {failures} uden" in r.reason
            assert r.reason.endswith("til revurdering på mødet.") and r.review_required
        else:
            assert f"har {r.cohort_with_result} fået registreret et resultat, og {failures} er" in r.reason
    # model A's threshold is an assumption, and every sentence showing it says so
    shown = rows[(rows["model"] == "hard") & rows["threshold"].notna() & (rows["evidence"] != "insufficient")]
    assert len(shown) > 0 and shown["reason"].str.contains("antaget tærskel").all()
    # (an early-warning month shows the measure even when too few to judge the funnel)
    few = rows[(rows["evidence"] == "insufficient") & ~stopped & (rows["reason_code"] != "early_warning")]
    assert (
        few["reason"].str.startswith(("For få forløb", "Ingen brugbar sammenligning", "Ny leverandør")).all()
    )
    # "ny leverandør" only while the provider has no referral in its base
    assert (few.loc[few["reason"].str.startswith("Ny leverandør"), "n"] == 0).all()


ORDINALS = (
    "første", "anden", "tredje", "fjerde", "femte", "sjette", "syvende", "ottende", "niende", "tiende",
)  # fmt: skip


def test_months_in_a_row_are_named_in_the_sentence(decided: Decided) -> None:
    soft = decided.rows[decided.rows["model"] == "soft"]
    below = soft[soft["reason_code"].isin(["escalate", "hold_top"]) & soft["below_streak"].between(2, 10)]
    assert len(below) > 0
    for r in below.itertuples(index=False):
        assert f"for {ORDINALS[int(r.below_streak) - 1]} måned i træk" in r.reason
    counting = soft[soft["reason_code"] == "ok_counting"]
    for r in counting.itertuples(index=False):
        needed = RULES.area(r.tender_area).soft.recover_months
        assert f"i {int(r.ok_streak)} af de {needed} måneder" in r.reason


def test_parquet_exports_equal_the_warehouse_tables(decided: Decided) -> None:
    for table in ("mart_booking_decisions", "mart_booking_allocation"):
        exported = pd.read_parquet(decided.settings.marts_dir / f"{table}.parquet")
        in_warehouse = query(decided.settings, f"SELECT * FROM main.{table}")
        assert len(exported) == len(in_warehouse) > 0
        assert list(exported.columns) == list(in_warehouse.columns)
    assert not list(decided.settings.marts_dir.glob(".*tmp*"))


def test_summary_counts_the_shown_models_states(decided: Decided) -> None:
    month = decided.rows[decided.rows["month"] == decided.summary.month]
    for model in ("soft", "hard"):
        counts = month.loc[month["model"] == model, "state"].value_counts()
        assert {s: n for s, n in decided.summary.counts[model].items() if n} == counts.to_dict()
    text = str(decided.summary)
    assert "\n" not in text
    assert text.startswith(f"decide {decided.summary.month:%Y-%m}: soft model (shown)")


def test_decide_again_gives_the_same_rows(
    decided: Decided, warehouse_copy: Callable[[str], Settings]
) -> None:
    again = warehouse_copy("decided_again")
    decide(again)
    decide(again, decided.summary.month)
    columns = [c for c in decided.rows.columns if c != "computed_at"]
    pd.testing.assert_frame_equal(plain(stored(again)[columns]), plain(decided.rows[columns]))


def test_model_option_chooses_the_shown_model(
    decided: Decided, warehouse_copy: Callable[[str], Settings]
) -> None:
    settings = warehouse_copy("hard_shown")
    month = date(2024, 6, 1)
    summary = decide(settings, month, model="hard")
    rows = stored(settings)
    shown = rows[rows["shown"]].groupby("month")["model"].unique()
    assert shown[month].tolist() == ["hard"]
    assert all(m.tolist() == ["soft"] for k, m in shown.items() if k != month)
    assert str(summary).startswith("decide 2024-06: hard model (shown)")
    assert set(summary.allocation["model"]) == {"hard"}


def test_month_not_built_yet_or_before_the_data_is_refused(decided: Decided) -> None:
    later = date(decided.summary.month.year + 1, 1, 1)
    with pytest.raises(DecisionInputError, match="provmon build --as-of"):
        decide(decided.settings, later)
    with pytest.raises(DecisionInputError, match="no provider results for 2010-01"):
        decide(decided.settings, date(2010, 1, 1))
    with pytest.raises(ProvmonError, match="unknown model"):
        decide(decided.settings, model="medium")
    with pytest.raises(ProvmonError, match="YYYY-MM"):
        parse_month("juni 2024")
    assert parse_month("2024-06") == date(2024, 6, 1)
    assert parse_model(" Hard ") == "hard"


# --- allocation -----------------------------------------------------------------------------------


def newest(settings: Settings, extract: str, key: str) -> pd.DataFrame:
    """Landing rows of the newest delivery per key (docs/warehouse.md), in pandas."""
    rows = query(settings, f"SELECT * FROM landing.{extract}")
    rows = rows.sort_values(["_delivery_date", "_load_id", "_row_number"])
    return rows.drop_duplicates(key, keep="last")


def test_allocation_shares_sum_to_one_per_area_and_follow_state_and_capacity(decided: Decided) -> None:
    settings = decided.settings
    alloc = query(settings, "SELECT * FROM main.mart_booking_allocation")
    alloc = alloc.assign(month=months_of(alloc))
    keys = ["month", "model", "tender_area"]
    receiving = alloc.groupby(keys)["weight"].transform("sum") > 0
    # capped by capacity: the area's volume, or all the receivers' capacity if that is less
    for _, rows in alloc[receiving].groupby(keys):
        volume = rows["area_expected_volume"].iloc[0]
        given = min(volume, rows.loc[rows["weight"] > 0, "capacity_per_month"].sum())
        assert rows["allocation_share"].sum() == pytest.approx(given / volume)
        assert (rows["expected_referrals"] <= rows["capacity_per_month"] + 1e-9).all()
    assert (alloc.loc[~receiving, "allocation_share"] == 0).all()
    # state share x capacity, capacity summed over the agreements valid in the month (pandas)
    agreements = newest(settings, "agreements", "agreement_id")
    month = decided.summary.month
    last = pd.Timestamp(month) + pd.offsets.MonthEnd(0)
    valid = agreements[
        (pd.to_datetime(agreements["valid_from"]) <= last)
        & (agreements["valid_to"].isna() | (pd.to_datetime(agreements["valid_to"]) >= pd.Timestamp(month)))
    ]
    capacity = valid.groupby(["provider_id", "tender_area"])["capacity_per_month"].sum()
    mine = alloc[alloc["month"] == month].merge(
        decided.rows[["month", "provider_id", "tender_area", "model", "share"]],
        on=["month", "provider_id", "tender_area", "model"],
    )
    expected_cap = [capacity[(p, a)] for p, a in zip(mine["provider_id"], mine["tender_area"], strict=True)]
    assert mine["capacity_per_month"].to_numpy() == pytest.approx(expected_cap)
    assert mine["weight"].to_numpy() == pytest.approx((mine["share"] * mine["capacity_per_month"]).to_numpy())
    assert (mine.loc[mine["share"] == 0, "referrals_per_month"] == 0).all()


def test_allocation_in_referrals_per_month_adds_up_to_the_expected_volume(decided: Decided) -> None:
    """Expected volume = mean bookings of the last 3 months, counted from the landing tables;
    the whole referrals add up to it, or to the receivers' capacity where that is less."""
    settings = decided.settings
    referrals = newest(settings, "referrals", "referral_id")
    agreements = newest(settings, "agreements", "agreement_id")[["agreement_id", "tender_area"]]
    bookings = referrals.merge(agreements, on="agreement_id")
    alloc = query(settings, "SELECT * FROM main.mart_booking_allocation")
    alloc = alloc.assign(month=months_of(alloc))
    for month in sorted(set(alloc["month"]))[-4:]:
        start = pd.Timestamp(month) - pd.DateOffset(months=2)
        end = pd.Timestamp(month) + pd.offsets.MonthEnd(0)
        booked = pd.to_datetime(bookings["booked_on"])
        counts = bookings[(booked >= start) & (booked <= end)].groupby("tender_area").size() / 3
        for (_model, area), rows in alloc[alloc["month"] == month].groupby(["model", "tender_area"]):
            volume = counts.get(area, 0.0)
            assert rows["area_expected_volume"].iloc[0] == pytest.approx(volume)
            given = min(volume, rows.loc[rows["weight"] > 0, "capacity_per_month"].sum())  # capped
            whole = int(Decimal(repr(float(given))).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            if rows["weight"].sum() > 0:
                assert rows["referrals_per_month"].sum() == whole
                assert (rows["referrals_per_month"] - rows["expected_referrals"]).abs().max() < 1
            else:
                assert rows["referrals_per_month"].sum() == 0


def test_allocation_text_lists_every_area_in_danish(decided: Decided) -> None:
    text = decided.summary.allocation_text()
    assert text.startswith("Fordeling af nye henvisninger")
    for area in sorted(set(decided.summary.allocation["tender_area"])):
        assert f"Udbudsområde {area}:" in text


# --- overrides --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overridden:
    settings: Settings
    before: pd.DataFrame
    after: pd.DataFrame
    month: date
    provider: str
    message: str


def month_before(month: date, k: int) -> date:
    index = month.year * 12 + month.month - 1 - k
    return date(index // 12, index % 12 + 1, 1)


@pytest.fixture(scope="module")
def overridden(decided: Decided, warehouse_copy: Callable[[str], Settings]) -> Overridden:
    """A soft GREEN provider of area 1 set to ORANGE by a person three months before the latest."""
    settings = warehouse_copy("overridden")
    decide(settings)
    before = stored(settings)
    month = month_before(decided.summary.month, 3)
    candidates = before[
        (before["month"] == month) & (before["model"] == "soft") & (before["tender_area"] == 1)
        & (before["state"] == "GREEN")
    ]  # fmt: skip
    provider = candidates["provider_id"].iloc[0]
    message = record_override(
        settings, month, provider, 1, "Reduceret booking", "Aftalt på opfølgningsmødet", decided_by="MLH"
    )
    return Overridden(settings, before, stored(settings), month, provider, message)


def row(frame: pd.DataFrame, month: date, provider: str, model: str, area: int = 1) -> pd.Series:
    found = frame[
        (frame["month"] == month) & (frame["provider_id"] == provider) & (frame["model"] == model)
        & (frame["tender_area"] == area)
    ]  # fmt: skip
    assert len(found) == 1
    return found.iloc[0]


def test_override_is_recorded_beside_the_proposal(overridden: Overridden) -> None:
    o = overridden
    recorded = query(o.settings, "SELECT * FROM meta.decision_overrides")
    assert len(recorded) == 1
    r = recorded.iloc[0]
    assert (r["provider_id"], r["tender_area"], r["model"], r["state"]) == (o.provider, 1, "soft", "ORANGE")
    assert (r["decided_by"], r["reason"]) == ("MLH", "Aftalt på opfølgningsmødet")
    assert pd.Timestamp(r["decided_at"]).date() == date.today()
    decided_row = row(o.after, o.month, o.provider, "soft")
    proposal = row(o.before, o.month, o.provider, "soft")
    assert decided_row["state"] == "ORANGE"
    assert decided_row["proposed_state"] == proposal["proposed_state"] == "GREEN"
    assert decided_row["reason"] == proposal["reason"]
    assert (decided_row["override_by"], decided_row["override_reason"]) == (
        "MLH",
        "Aftalt på opfølgningsmødet",
    )
    assert decided_row["share"] == RULES.area(1).soft.states.ORANGE.share
    assert "ORANGE (proposed GREEN) decided by MLH" in o.message


def test_next_month_starts_from_the_decided_state(overridden: Overridden) -> None:
    o = overridden
    following = row(o.after, month_before(o.month, -1), o.provider, "soft")
    assert following["previous_state"] == "ORANGE"
    # one step at most from ORANGE, whatever the evidence; GREEN is two steps away
    assert following["proposed_state"] in {"YELLOW", "ORANGE", "RED"}
    assert following["share"] == RULES.area(1).share("soft", following["state"])  # type: ignore[arg-type]


def test_override_changes_only_its_model_and_the_months_from_it(overridden: Overridden) -> None:
    o = overridden
    columns = [c for c in o.before.columns if c not in (*KEY, "computed_at")]
    key_before = o.before.set_index(KEY)[columns]
    key_after = o.after.set_index(KEY)[columns]
    assert key_before.index.equals(key_after.index)
    unchanged = (key_before.index.get_level_values("month") < o.month) | (
        key_before.index.get_level_values("provider_id") != o.provider
    ) | (key_before.index.get_level_values("model") == "hard")  # fmt: skip
    pd.testing.assert_frame_equal(plain(key_before[unchanged]), plain(key_after[unchanged]))


def test_a_later_override_of_the_same_month_wins(
    overridden: Overridden, warehouse_copy: Callable[[str], Settings]
) -> None:
    settings = warehouse_copy("override_twice")
    decide(settings)
    o = overridden
    record_override(settings, o.month, o.provider, 1, "ORANGE", "Første beslutning", decided_by="A")
    record_override(settings, o.month, o.provider, 1, "yellow", "Ændret beslutning", decided_by="B")
    r = row(stored(settings), o.month, o.provider, "soft")
    assert (r["state"], r["override_by"], r["override_reason"]) == ("YELLOW", "B", "Ændret beslutning")
    assert len(query(settings, "SELECT * FROM meta.decision_overrides")) == 2


def test_a_hard_stop_by_a_person_starts_a_lift_cohort(
    decided: Decided, warehouse_copy: Callable[[str], Settings]
) -> None:
    """STOP names Model A by itself; next month counts the referrals ongoing at the stop."""
    settings = warehouse_copy("hard_override")
    decide(settings)
    rows = stored(settings)
    month = month_before(decided.summary.month, 2)
    open_ = rows[(rows["month"] == month) & (rows["model"] == "hard") & (rows["state"] == "OPEN")].iloc[0]
    provider, area = open_["provider_id"], int(open_["tender_area"])
    record_override(
        settings, month, provider, area, "STOP", "Bekymring for kvaliteten", decided_by="KJ", model=None
    )
    following = row(stored(settings), month_before(month, -1), provider, "hard", area)
    assert following["previous_state"] == "STOP"
    assert pd.Timestamp(following["stop_month"]).date() == month
    outcomes = query(
        settings,
        "SELECT start_date, end_date FROM main.fct_referral_outcomes "
        "WHERE provider_id = ? AND tender_area = ?",
        [provider, area],
    )
    stop_day = pd.Timestamp(month) + pd.offsets.MonthEnd(0)
    end = pd.to_datetime(outcomes["end_date"])
    ongoing = (pd.to_datetime(outcomes["start_date"]) <= stop_day) & (end.isna() | (end > stop_day))
    assert following["cohort_ongoing_at_stop"] == int(ongoing.sum())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"state": "PURPLE"}, "unknown state"),
        ({"reason": "  "}, "needs a reason"),
        ({"provider_id": "P99"}, "has no decision in tender area 1"),
        ({"month": date(2010, 1, 1)}, "no decisions yet"),
        ({"state": "STOP"}, "unknown state"),  # the soft model has no STOP
    ],
)
def test_a_bad_override_is_refused_and_nothing_is_recorded(
    overridden: Overridden, change: dict[str, object], message: str
) -> None:
    o = overridden
    args: dict[str, object] = {
        "month": o.month,
        "provider_id": o.provider,
        "tender_area": 1,
        "state": "RED",
        "reason": "Grund",
        "decided_by": "X",
    } | change
    with pytest.raises(OverrideError, match=message):
        record_override(o.settings, **args)  # type: ignore[arg-type]
    assert len(query(o.settings, "SELECT * FROM meta.decision_overrides")) == 1


def test_reasons_name_the_measure_by_its_label_in_dim_measures(decided: Decided) -> None:
    """One Danish name per measure: a reason that shows the measure's rate names it by the
    build's dim_measures label of the row's measure, not a second list of names: at the start
    of Model A's sentence, after "Tragtplot: " (the funnel's numbers) in Model B's."""
    labels = dict(
        query(decided.settings, "SELECT measure, label_da FROM main.dim_measures").itertuples(index=False)
    )
    rows = decided.rows[decided.rows["reason"].str.contains("95 %-interval", regex=False)]
    assert len(rows) > 0 and (rows["model"] == "soft").any() and (rows["model"] == "hard").any()
    for model, measure, reason in zip(rows["model"], rows["measure"], rows["reason"], strict=True):
        shown = reason.split("Tragtplot: ", 1)[1] if model == "soft" else reason
        assert shown.startswith(labels[measure] + " "), reason


def test_no_provider_stays_red_on_insufficient_evidence_beyond_review_months_unflagged(
    decided: Decided,
) -> None:
    """The issue's target: a RED month judged on the state cohort is flagged for the meeting
    from review_months after the state was entered; every soft row says when its state began."""
    soft = decided.rows[decided.rows["model"] == "soft"]
    assert soft["state_since"].notna().sum() > 0
    red = soft[(soft["state"] == "RED") & (soft["evidence"] == "insufficient")]
    since = pd.to_datetime(red["state_since"])
    months_in = (pd.to_datetime(red["month"]).dt.year - since.dt.year) * 12 + (
        pd.to_datetime(red["month"]).dt.month - since.dt.month
    )
    review_months = {a: RULES.area(a).soft.review_months for a in (1, 2, 3, 4)}
    due = months_in >= red["tender_area"].map(review_months)
    assert (red.loc[due, "review_required"]).all()
    assert red.loc[red["review_required"], "reason"].str.endswith("til revurdering på mødet.").all()


def test_the_action_plan_is_required_where_the_rules_say_so(decided: Decided) -> None:
    """action_plan_required = the state in force has action_plan: true in rules.yaml (read here
    with plain YAML; the shipped file sets it in the defaults only)."""
    text = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    assert "action_plan" not in str(text["areas"])
    defaults = text["defaults"]
    needs = {
        state
        for model in ("soft", "hard")
        for state, rule in defaults[model]["states"].items()
        if rule.get("action_plan")
    }
    rows = decided.rows
    assert needs == {"YELLOW"}
    assert rows["action_plan_required"].tolist() == rows["state"].isin(needs).tolist()


def test_the_early_warning_chart_moves_green_to_yellow_and_never_further(decided: Decided) -> None:
    """The rows carry the month's chart as fct_provider_cusum has it; a signal in a GREEN month
    the funnel does not escalate gives YELLOW with the early-warning reason."""
    chart = query(decided.settings, "SELECT * FROM main.fct_provider_cusum")
    chart = chart.assign(month=months_of(chart, "as_of_month"))
    soft = decided.rows[decided.rows["model"] == "soft"]
    merged = soft.merge(chart, on=["month", "provider_id", "tender_area"], how="left")
    assert merged["cusum_signal"].tolist() == merged["signal"].fillna(False).astype(bool).tolist()
    assert chart["signal"].any()
    green = merged[
        (merged["previous_state"] == "GREEN")
        & merged["cusum_signal"]
        & merged["evidence"].isin(["ok", "insufficient"])
        & merged["override_state"].isna()
    ]
    assert len(green) > 0
    assert (green["state"] == "YELLOW").all() and (green["reason_code"] == "early_warning").all()
    assert green["reason"].str.contains("CUSUM").all()
    # whatever the funnel says, a GREEN provider does not stay GREEN in a month with a signal
    # (a first month below the warning limit included: early_warning_below)
    signalled = merged[
        (merged["previous_state"] == "GREEN") & merged["cusum_signal"] & merged["override_state"].isna()
    ]
    assert (signalled["state"] == "YELLOW").all()
    # a signal alone never reduces intake: ORANGE and RED come only from the funnel
    order = {"GREEN": 0, "YELLOW": 1, "ORANGE": 2, "RED": 3}
    rank, before = merged["state"].map(order), merged["previous_state"].map(order)
    up = merged[merged["state"].isin(["ORANGE", "RED"]) & (rank > before)]
    assert up["evidence"].isin(["alarm", "warning"]).all()


def test_the_meeting_records_a_received_action_plan_through_the_cli(
    decided: Decided, warehouse_copy: Callable[[str], Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    """`provmon decide override --action-plan-received` on a YELLOW: the day lands in
    meta.decision_overrides and on the row, and stays on the rows that follow while the state
    in force stays YELLOW; a bad day or a state without a plan is one line and exit 2."""
    settings = warehouse_copy("action_plan")
    decide(settings)
    rows = stored(settings)
    month = month_before(decided.summary.month, 3)
    green = rows[
        (rows["month"] == month) & (rows["model"] == "soft") & (rows["tender_area"] == 1)
        & (rows["state"] == "GREEN")
    ]  # fmt: skip
    provider = str(green["provider_id"].iloc[0])
    base = ["decide", "override", "--warehouse", str(settings.warehouse), "--month", f"{month:%Y-%m}"]
    base += ["--provider", provider, "--area", "1", "--reason", "Handlingsplan modtaget", "--by", "MLH"]
    received = month.replace(day=12)
    for bad, message in (
        (["--state", "YELLOW", "--action-plan-received", "12-05-2024"], "is not a day YYYY-MM-DD"),
        (["--state", "GREEN", "--action-plan-received", f"{received}"], "requires an action plan"),
    ):
        assert main([*base, *bad]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
    assert len(query(settings, "SELECT * FROM meta.decision_overrides")) == 0
    assert main([*base, "--state", "YELLOW", "--action-plan-received", f"{received}"]) == 0
    recorded = query(settings, "SELECT state, action_plan_received FROM meta.decision_overrides")
    assert recorded["state"].tolist() == ["YELLOW"]
    assert months_of(recorded, "action_plan_received").tolist() == [received]
    after = stored(settings)
    own = (after["provider_id"] == provider) & (after["tender_area"] == 1) & (after["model"] == "soft")
    mine = after[own & (after["month"] >= month)].sort_values("month")
    # expected independently: the day from the override month on, as long as the state stays YELLOW
    still = (mine["state"] == "YELLOW").cumprod().astype(bool)
    expected = [received if s else None for s in still]
    got = [None if pd.isna(d) else pd.Timestamp(d).date() for d in mine["action_plan_received"]]
    assert got == expected and got[0] == received
    assert after.loc[~own, "action_plan_received"].isna().all()


def test_state_cohorts_are_counted_as_the_spec_says(decided: Decided) -> None:
    """fct_decision_inputs.state_cohorts against a pandas count over the dated referrals
    (int_referrals_primary_dated, unit-tested in dbt) for the last three months: for entry month
    e and as-of month m, the referrals ongoing at e's end or started since (by m's evaluation date), judged
    when a success is registered or the measure matured, each with its expected probability if
    fct_referral_expected knew it by m, else the area's rate (decisions.md, model B)."""
    settings = decided.settings
    schema = query(
        settings,
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'int_referrals_primary_dated'",
    )["table_schema"]
    assert len(schema) == 1
    dated = query(settings, f'SELECT * FROM "{schema.iloc[0]}".int_referrals_primary_dated')
    primary = primary_results(settings)
    expected = query(
        settings, "SELECT referral_id, measure, as_of_month, expected_p FROM main.fct_referral_expected"
    )
    measure_of = primary.groupby("tender_area")["measure"].first()
    dated = dated.assign(measure=dated["tender_area"].map(measure_of))
    dated = dated.merge(expected, on=["referral_id", "measure"], how="left")
    day = {c: pd.to_datetime(dated[c]) for c in ("start_date", "end_date", "window_end", "success_known_on")}
    inputs = query(
        settings,
        "SELECT as_of_month, as_of_date, provider_id, tender_area, state_cohorts "
        "FROM main.fct_decision_inputs",
    )
    inputs = inputs.assign(month=months_of(inputs, "as_of_month"))
    checked = 0
    for month in sorted(inputs["month"].unique())[-3:]:
        rows = inputs[inputs["month"] == month]
        end = pd.Timestamp(rows["as_of_date"].iloc[0])  # the month's evaluation date
        area_rate = primary[primary["month"] == month].groupby("tender_area")["area_rate"].max()
        known = day["success_known_on"] <= end
        judged = (day["start_date"] <= end) & (
            known | (dated["success"].notna() & (day["window_end"] <= end))
        )
        p = dated["expected_p"].where(pd.to_datetime(dated["as_of_month"]) <= pd.Timestamp(month))
        p = p.fillna(dated["tender_area"].map(area_rate))
        for r in rows.itertuples(index=False):
            own = judged & (dated["provider_id"] == r.provider_id) & (dated["tender_area"] == r.tender_area)
            for c in r.state_cohorts:
                entry_end = pd.Timestamp(c["entry_month"]) + pd.offsets.MonthEnd(0)
                members = own & (day["end_date"].isna() | (day["end_date"] > entry_end))
                assert c["judged"] == int(members.sum())
                assert c["successes"] == int((members & known).sum())
                assert c["expected"] == pytest.approx(p[members].sum())
                assert c["variance"] == pytest.approx((p[members] * (1 - p[members])).sum())
                checked += 1
    assert checked > 0
