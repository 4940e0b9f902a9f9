"""The risk-adjusted Bernoulli CUSUM (pipeline/stats/cusum.py): the log-likelihood ratios
against the odds written out by hand, the path with its floor at 0 and its restart on a small
hand example, h against an independent simulation of in-control providers month by month (a
different seed, a different code path, signals counted per provider-month and compared with
1/60 by an exact binomial interval), and the chart per month from a referral frame against a
plain loop."""

import math
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from pipeline.errors import ConfigError
from pipeline.stats import cusum
from pipeline.stats.cusum import (
    CHART_COLUMNS,
    CusumParams,
    Threshold,
    area_thresholds,
    calibrate_threshold,
    checked_referrals,
    cusum_by_month,
    cusum_path,
    llr_weights,
    simulation_draws,
    w_table,
    window_fingerprints,
)
from pipeline.stats.cusum_incremental import _configured_threads
from pipeline.stats.patterns import StatsInputError


def odds_shifted(p: float, odds_ratio: float) -> float:
    """The success probability whose odds are odds_ratio x the odds of p."""
    odds = odds_ratio * p / (1 - p)
    return odds / (1 + odds)


def test_llr_increments_are_the_log_likelihood_ratio_of_shifted_odds() -> None:
    """W = log P(y | odds x R) / P(y | p), written with the shifted probability, not the formula."""
    for p in (0.05, 0.4, 0.5, 0.93):
        for odds_ratio in (0.5, 2.0):
            q = odds_shifted(p, odds_ratio)
            got = llr_weights([1, 0], [p, p], odds_ratio)
            assert got.tolist() == pytest.approx([math.log(q / p), math.log((1 - q) / (1 - p))])
    # by hand for p = 0.4, R = 0.5: a failure adds -ln 0.8 = 0.2231, a success ln 0.5 - ln 0.8
    assert llr_weights([0, 1], [0.4, 0.4], 0.5).tolist() == pytest.approx([0.22314355, -0.47000363])


def test_path_floors_at_zero_signals_at_h_and_restarts() -> None:
    w = [1.0, -0.5, 2.0, -3.0, 0.4, 1.2, 0.5, 0.5, 0.3]
    s, signal = cusum_path(w, 2.5)
    # 1.0, 0.5, 2.5 >= h: signal, restart at 0; -3 floors at 0; 0.4, 1.6, 2.1, 2.6: signal; 0.3
    assert s.tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0, 0.4, 1.6, 2.1, 0.0, 0.3])
    assert np.flatnonzero(signal).tolist() == [2, 7]
    # h per referral; NaN never signals
    s, signal = cusum_path([2.0, 2.0, 2.0], [math.nan, 3.0, 10.0])
    assert s.tolist() == [2.0, 0.0, 2.0] and signal.tolist() == [False, True, False]


def in_control_signals_per_provider_month(
    h: float,
    pool: np.ndarray,
    monthly_volume: float,
    providers: int,
    months: int,
    seed: int,
    odds: float = 1.0,
) -> float:
    """An independent simulation of the restarted chart as it runs in practice: each provider
    gets Poisson(monthly_volume) referrals a month with p from the pool and y ~ Bernoulli of p
    (odds x `odds`), the chart restarts after each signal; signals per provider-month."""
    rng = np.random.default_rng(seed)
    s = np.zeros(providers)
    signals = 0
    for _ in range(months):
        counts = rng.poisson(monthly_volume, providers)
        for slot in range(int(counts.max())):
            active = counts > slot
            p = rng.choice(pool, providers)
            q = odds * p / (1 - p + odds * p)
            y = rng.random(providers) < q
            w = np.where(y, math.log(0.5), 0.0) - np.log(1 - p + 0.5 * p)
            s = np.where(active, np.maximum(0.0, s + w), s)
            hit = active & (s >= h)
            signals += int(hit.sum())
            s[hit] = 0.0
    return signals / (providers * months)


@pytest.mark.parametrize("monthly_volume", [4.0, 12.0])
def test_h_gives_one_false_signal_in_60_months_against_a_fresh_simulation(monthly_volume: float) -> None:
    rng = np.random.default_rng(5)
    pool = rng.beta(3, 5, 600)  # expected probabilities around 0.375
    params = CusumParams(simulations=4000, seed=11)
    threshold = calibrate_threshold(pool, monthly_volume, params, (1,))
    assert threshold.false_signal_rate == pytest.approx(1 / 60, rel=0.03)
    # long runs, so that the long-run rate is compared: a chart that has just started at 0
    # signals a little less in its first months (the first cycle needs a run-up), which is on
    # the safe side of the target
    providers, months = 300, 600
    rate = in_control_signals_per_provider_month(
        threshold.h, pool, monthly_volume, providers, months, seed=99
    )
    # an exact (Clopper-Pearson) 99.9 % interval for the signal rate of the fresh simulation
    n, k = providers * months, round(rate * providers * months)
    low, high = beta.ppf(0.0005, k, n - k + 1), beta.ppf(0.9995, k + 1, n - k)
    assert low <= 1 / 60 <= high, (rate, low, high, threshold)


def test_a_provider_with_halved_odds_signals_much_sooner() -> None:
    rng = np.random.default_rng(6)
    pool = rng.beta(3, 5, 600)
    threshold = calibrate_threshold(pool, 10.0, CusumParams(seed=3), (2,))
    worse = in_control_signals_per_provider_month(threshold.h, pool, 10.0, 400, 24, seed=7, odds=0.5)
    fine = in_control_signals_per_provider_month(threshold.h, pool, 10.0, 400, 24, seed=7)
    # signals per provider-month = 1 / the mean months between signals: in control about 60,
    # with halved odds (10 referrals a month) well under 10
    assert fine < 1 / 30
    assert worse > 1 / 10
    assert worse > 5 * fine


def test_h_rises_with_volume_and_with_the_target_run_length() -> None:
    pool = np.random.default_rng(8).beta(3, 5, 300)
    base = calibrate_threshold(pool, 5.0, CusumParams(), (1,))
    assert calibrate_threshold(pool, 20.0, CusumParams(), (1,)).h > base.h
    assert calibrate_threshold(pool, 5.0, CusumParams(arl_months=240), (1,)).h > base.h
    # deterministic for a seed
    assert calibrate_threshold(pool, 5.0, CusumParams(), (1,)) == base
    assert math.isnan(calibrate_threshold([], 5.0, CusumParams()).h)


def test_longer_simulations_extend_the_draws_and_keep_their_start() -> None:
    params = CusumParams(simulations=20)
    short, long = simulation_draws(20, 1500, params, (3,)), simulation_draws(20, 5000, params, (3,))
    assert long.shape == (5000, 20) and (long[:1500] == short).all()


def test_params_from_dbt_vars_and_bad_values() -> None:
    params = CusumParams.from_vars(
        {"cusum_odds_ratio": "0.5", "cusum_arl_months": 36, "cusum_simulations": 200, "other": 1}
    )
    assert params == CusumParams(odds_ratio=0.5, arl_months=36.0, simulations=200)
    with pytest.raises(ConfigError, match="cusum_odds_ratio"):
        CusumParams.from_vars({"cusum_odds_ratio": 1})
    with pytest.raises(ConfigError, match="cusum_arl_months must be a number"):
        CusumParams.from_vars({"cusum_arl_months": "sixty"})
    with pytest.raises(ConfigError, match="cusum_simulations must be a whole number"):
        CusumParams.from_vars({"cusum_simulations": 20.5})
    with pytest.raises(ConfigError, match="cusum_volume_basis"):
        CusumParams.from_vars({"cusum_volume_basis": "median"})


# --- the chart per month ------------------------------------------------------------------------


def referral_frame(seed: int) -> pd.DataFrame:
    """Two areas, three providers, 14 months; P02's odds of success drop to a third from month 7."""
    rng = np.random.default_rng(seed)
    rows = []
    for area, providers in ((1, ["P01", "P02"]), (2, ["P03"])):
        for provider in providers:
            for month in range(1, 15):
                for _ in range(rng.poisson(15)):
                    p = float(rng.beta(3, 4))
                    q = odds_shifted(p, 1 / 3) if provider == "P02" and month >= 7 else p
                    day = int(rng.integers(1, 28))
                    rows.append(
                        (
                            provider,
                            area,
                            pd.Timestamp(2023 + (month - 1) // 12, (month - 1) % 12 + 1, day),
                            int(rng.random() < q),
                            p,
                        )
                    )
    frame = pd.DataFrame(rows, columns=["provider_id", "tender_area", "known_date", "y", "p"])
    return frame.assign(referral_id=range(len(frame))).sample(frac=1, random_state=seed)


def test_chart_per_month_matches_a_plain_loop_over_each_providers_referrals() -> None:
    referrals = referral_frame(1)
    params = CusumParams(simulations=200)
    months = [date(2023, 6, 1), date(2023, 12, 1), date(2024, 2, 1)]
    chart = cusum_by_month(referrals, months, params)
    assert list(chart.columns) == CHART_COLUMNS
    frame = referrals.assign(
        month=referrals["known_date"].dt.year * 12 + referrals["known_date"].dt.month - 1
    )
    all_months = list(range(int(frame["month"].min()), 2024 * 12 + 2))
    h = area_thresholds(frame, all_months, params).set_index(["tender_area", "month"])["h"]
    for (area, provider), rows in frame.sort_values(["known_date", "referral_id"]).groupby(
        ["tender_area", "provider_id"]
    ):
        s, per_month = 0.0, {}
        for r in rows.itertuples():
            w = (math.log(0.5) if r.y else 0.0) - math.log(1 - r.p + 0.5 * r.p)
            s = max(0.0, s + w)
            signalled = s >= h[(area, r.month)]
            if signalled:
                s = 0.0
            count, _ = per_month.get(r.month, (0, 0.0))
            per_month[r.month] = (count + signalled, s)
        for month in months:
            m = month.year * 12 + month.month - 1
            row = chart[(chart["as_of_month"] == month) & (chart["provider_id"] == provider)].iloc[0]
            last = max(k for k in per_month if k <= m)
            assert row["s"] == pytest.approx(per_month[last][1])
            assert row["signals"] == per_month.get(m, (0, 0.0))[0]
            assert row["signal"] == (row["signals"] > 0)
            assert row["n_known"] == int((rows["month"] == m).sum())
            assert row["h"] == pytest.approx(h[(area, m)])


def test_the_drop_signals_and_later_referrals_do_not_change_earlier_months() -> None:
    referrals = referral_frame(2)
    params = CusumParams(simulations=200)
    months = [date(2023, m, 1) for m in range(1, 13)] + [date(2024, 1, 1), date(2024, 2, 1)]
    chart = cusum_by_month(referrals, months, params)
    p02 = chart[chart["provider_id"] == "P02"]
    assert p02.loc[p02["as_of_month"] >= date(2023, 7, 1), "signal"].any()
    # everything known after August 2023 removed: the months up to August are the same
    early = referrals[referrals["known_date"] < pd.Timestamp(2023, 9, 1)]
    upto = [m for m in months if m < date(2023, 9, 1)]
    pd.testing.assert_frame_equal(
        cusum_by_month(early, upto, params), chart[chart["as_of_month"].isin(upto)].reset_index(drop=True)
    )


def test_bad_referrals_are_refused_with_a_clear_message() -> None:
    referrals = referral_frame(3)
    with pytest.raises(StatsInputError, match="y = 0 or 1"):
        cusum_by_month(referrals.assign(y=2), [date(2023, 5, 1)], CusumParams())
    with pytest.raises(StatsInputError, match="p between 0 and 1"):
        cusum_by_month(referrals.assign(p=1.5), [date(2023, 5, 1)], CusumParams())
    with pytest.raises(StatsInputError, match="known_date"):
        cusum_by_month(referrals.drop(columns="known_date"), [date(2023, 5, 1)], CusumParams())


def test_h_is_set_for_the_busiest_provider_unless_the_mean_is_asked_for() -> None:
    referrals = referral_frame(4)
    frame = referrals.assign(
        month=referrals["known_date"].dt.year * 12 + referrals["known_date"].dt.month - 1
    )
    month = 2023 * 12 + 11  # December 2023: the window is the 12 months of 2023
    in_window = frame[(frame["month"] > month - 12) & (frame["month"] <= month)]
    counts = in_window.groupby(["tender_area", "provider_id"]).size() / 12
    busiest = area_thresholds(frame, [month], CusumParams(simulations=100)).set_index("tender_area")
    average = area_thresholds(frame, [month], CusumParams(simulations=100, volume_basis="mean"))
    average = average.set_index("tender_area")
    assert busiest.loc[1, "monthly_volume"] == pytest.approx(counts.loc[1].max())
    assert average.loc[1, "monthly_volume"] == pytest.approx(counts.loc[1].mean())
    assert busiest.loc[1, "h"] >= average.loc[1, "h"]
    assert busiest.loc[2, "monthly_volume"] == average.loc[2, "monthly_volume"]  # one provider


# --- thresholds kept by an incremental build (issue 19) -------------------------------------------


def with_months(referrals: pd.DataFrame) -> pd.DataFrame:
    return referrals.assign(month=referrals["known_date"].dt.year * 12 + referrals["known_date"].dt.month - 1)


def test_known_thresholds_are_taken_as_given_and_the_others_simulated_as_before() -> None:
    frame = with_months(referral_frame(5))
    params = CusumParams(simulations=100)
    months = list(range(int(frame["month"].min()), int(frame["month"].max()) + 1))
    full = area_thresholds(frame, months, params)
    # the first half of area 1 known (one of them a marker no simulation would give): the
    # others, area 2 whole, are what a full computation gives, bit for bit
    known = {
        (1, m): Threshold(h, rate, volume, 0)
        for _, _, m, h, rate, volume in full[full["tender_area"] == 1].head(7).itertuples()
    }
    marked = (1, months[3])
    known[marked] = Threshold(123.0, 0.5, 7.0, 0)
    again = area_thresholds(frame, months, params, known).set_index(["tender_area", "month"])
    expected = full.set_index(["tender_area", "month"])
    assert again.loc[marked, "h"] == 123.0 and again.loc[marked, "monthly_volume"] == 7.0
    pd.testing.assert_frame_equal(again.drop(index=[marked]), expected.drop(index=[marked]))


def test_a_window_fingerprint_changes_exactly_with_the_windows_referrals() -> None:
    referrals = referral_frame(6)
    params = CusumParams(simulations=100, calibration_months=3)
    months = list(range(2023 * 12, 2024 * 12 + 2))
    before = window_fingerprints(checked_referrals(referrals), months, params, "code")
    # one referral of area 1 known in April 2023 (month index 2023 * 12 + 3) gets another p
    april = referrals.index[
        (referrals["tender_area"] == 1)
        & (referrals["known_date"].dt.month == 4)
        & (referrals["known_date"].dt.year == 2023)
    ][0]
    changed = referrals.copy()
    changed.loc[april, "p"] = changed.loc[april, "p"] / 2
    after = window_fingerprints(checked_referrals(changed), months, params, "code")
    differs = before.merge(after, on=["tender_area", "month"]).query("fingerprint_x != fingerprint_y")
    # the windows holding April: April to June (three calibration months), area 1 only
    assert sorted(differs["month"]) == [2023 * 12 + 3, 2023 * 12 + 4, 2023 * 12 + 5]
    assert set(differs["tender_area"]) == {1}
    # the parameters and the code enter every fingerprint
    other = window_fingerprints(
        checked_referrals(referrals), months, CusumParams(simulations=101, calibration_months=3), "code"
    )
    assert not set(other["fingerprint"]) & set(before["fingerprint"])
    salted = window_fingerprints(checked_referrals(referrals), months, params, "other code")
    assert not set(salted["fingerprint"]) & set(before["fingerprint"])


def test_the_chart_with_given_thresholds_equals_the_chart_that_simulates_them() -> None:
    referrals = referral_frame(7)
    params = CusumParams(simulations=100)
    months = [date(2023, m, 1) for m in range(1, 13)] + [date(2024, 1, 1), date(2024, 2, 1)]
    frame = with_months(referrals)
    all_months = list(range(int(frame["month"].min()), 2024 * 12 + 2))
    given = area_thresholds(frame, all_months, params)
    pd.testing.assert_frame_equal(
        cusum_by_month(referrals, months, params, given), cusum_by_month(referrals, months, params)
    )
    with pytest.raises(StatsInputError, match="no threshold for 1 area month"):
        cusum_by_month(referrals, months, params, given.iloc[1:])


# --- the simulation against a plain loop (issue 19: the optimised path gives the same h) ---------


def plain_records(table: np.ndarray, draws: np.ndarray, steps: int) -> tuple[np.ndarray, ...]:
    """The records of the running maximum of S, one sequence and one step at a time in float32
    (C, min(0, min C), S = C - min(0, min C)): sequence, step, value, sorted by both."""
    found = []
    for row in range(draws.shape[1]):
        c = low = top = np.float32(0.0)
        for step in range(steps):
            c = np.float32(c + table[draws[step, row]])
            low = min(low, c)
            s = np.float32(c - low)
            if s > top:
                top = s
                found.append((row, step, float(s)))
    rows, step_at, value = zip(*found, strict=True) if found else ((), (), ())
    return np.array(rows, dtype=np.intp), np.array(step_at, dtype=np.intp), np.array(value, dtype=float)


def test_records_of_months_side_by_side_equal_a_plain_loop_per_month(monkeypatch: pytest.MonkeyPatch) -> None:
    """Months of two areas (two sets of draws) with different horizons side by side, in blocks
    so small that they and the record spans end inside and between the horizons: bit for bit."""
    monkeypatch.setattr(cusum, "BLOCK_CELLS", 7 * 12 * 4)
    monkeypatch.setattr(cusum, "RECORD_CELLS", 3 * 12 * 4)
    rng = np.random.default_rng(12)
    params = CusumParams(simulations=12, seed=4)
    horizons = [90, 7, 250, 90, 1, 181]
    tables = [w_table(rng.beta(a, 4, 50), params.odds_ratio) for a in (1, 2, 3, 4, 5, 6)]
    areas = [simulation_draws(12, max(horizons), params, (area,)) for area in (9, 10)]
    draws = [areas[i % 2] for i in range(len(tables))]
    got = cusum._running_max_records(tables, draws, horizons)
    assert len(got) == len(tables)
    for table, area_draws, horizon, records in zip(tables, draws, horizons, got, strict=True):
        expected = plain_records(table, area_draws, horizon)
        assert len(expected[0]) > 0
        for part, want in zip(records, expected, strict=True):
            assert part.dtype == want.dtype and np.array_equal(part, want)
    # a pool where S never rises: no records, and none for nothing to simulate
    never = cusum._running_max_records([w_table(np.ones(5), 0.5)], areas[:1], [40])
    assert [len(part) for part in never[0]] == [0, 0, 0]
    assert cusum._running_max_records([], [], []) == []


def test_area_thresholds_equal_a_plain_simulation_month_by_month() -> None:
    """Every h, rate and volume of area_thresholds (all months of an area in one pass) equals
    the plain loop's records bisected month by month on draws just as long as the month's
    horizon."""
    frame = with_months(referral_frame(8))
    params = CusumParams(simulations=10, calibration_months=4)
    months = list(range(int(frame["month"].min()) - 1, int(frame["month"].max()) + 2))
    got = area_thresholds(frame, months, params)
    checked = 0
    for row in got.itertuples():
        rows = frame[frame["tender_area"] == row.tender_area]
        window = (rows["month"] > row.month - 4) & (rows["month"] <= row.month)
        if not window.any():
            assert math.isnan(row.h) and row.monthly_volume == 0.0
            continue
        horizon = cusum.horizon_steps(row.monthly_volume, params)
        draws = simulation_draws(10, horizon, params, (row.tender_area,))
        table = w_table(rows.loc[window, "p"].to_numpy(), params.odds_ratio)
        runs = cusum._RunLengths(plain_records(table, draws, horizon), 10, horizon)
        want = cusum._bisect(runs, row.monthly_volume, params, int(window.sum()))
        assert (row.h, row.false_signal_rate) == (want.h, want.false_signal_rate)
        checked += 1
    assert checked == 2 * 15  # 14 months with referrals and the one after (its window holds some)


def test_thresholds_do_not_depend_on_the_worker_threads() -> None:
    """Areas simulated side by side in threads give the table of one thread, bit for bit and
    in the same order; the build passes DuckDB's configured thread count."""
    frame = with_months(referral_frame(9))
    params = CusumParams(simulations=50)
    months = list(range(int(frame["month"].min()), int(frame["month"].max()) + 1))
    one = area_thresholds(frame, months, params, workers=1)
    assert list(one["tender_area"].unique()) == [1, 2]
    for workers in (2, 3, None):
        pd.testing.assert_frame_equal(area_thresholds(frame, months, params, workers=workers), one)
    con = duckdb.connect()
    con.execute("set threads = 3")
    assert _configured_threads(con) == 3
