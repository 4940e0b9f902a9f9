"""Early warning: the risk-adjusted Bernoulli CUSUM per provider x tender area (decisions.md,
"Early warning"; Steiner, Cook, Farewell & Treasure 2000, Biostatistics 1:441-452).

A rolling 12-month rate dilutes a drop in a provider's results; the CUSUM accumulates the
evidence referral by referral and forgets good news only down to zero, so a drop shows in weeks.

Method
- Referrals enter in the order their outcome becomes known. Each adds the log-likelihood ratio
  W = y ln(R) - ln(1 - p + R p) of "odds of success multiplied by R" against "as expected"
  (y = 1 a success, p its expected probability from the area's case-mix model, R the odds
  ratio to detect, default 0.5). With R < 1 a failure adds to S, a success takes from it.
- S_0 = 0, S_t = max(0, S_(t-1) + W_t); a signal when S >= h; S restarts at 0 after a signal.
- h per tender area and month, by simulation: in-control referral sequences are drawn from the
  area's own expected probabilities (those known in the last `calibration_months` months, y ~
  Bernoulli(p)), and h is the smallest value at which a provider with exactly expected results
  signals falsely at most once in `arl_months` months on average. The restarted chart is a
  renewal process (every cycle starts at 0 with independent referrals), so its false signals per
  referral are 1 / (mean run length), and per month `monthly_volume` times that. The run
  lengths for every h at once come from one pass over each simulated sequence: without a
  signal S_t = C_t - min(0, min C_k) for the cumulative sum C, and the first signal at h is
  the first t whose running maximum of S reaches h. Sequences are cut at the target run
  length; a cut run is completed by the hazard of the sequences' second half (beyond the start
  at 0 the run length is memoryless). The monthly volume is
  the busiest provider's mean referrals per month in the window (`volume_basis: max`), so the
  bound holds for every provider of the area; `mean` uses the average provider instead.
  Simulations are seeded per area (`seed`), with the same random numbers every month, so h
  moves with the data and not with simulation noise.

Interface (what the decision step reads; the wiring into dbt/decisions is a later step)
    params = CusumParams.from_vars(dbt_vars)    # or CusumParams() for the defaults
    chart = cusum_by_month(referrals, as_of_months, params)
`referrals`: one row per referral with a known outcome on the primary measure: provider_id,
tender_area, known_date (the date the outcome became known: the measure's maturity date, for
has_result the result date or closing date), y (0/1), p (expected probability, 0-1), and
optionally referral_id (orders referrals known on the same day; otherwise input order).
`as_of_months`: the months to report (any day in the month). The chart runs month by month
from the first month with a known outcome; the referrals known in month m are judged against
h of month m, calibrated from what was known by the end of m, so nothing later is used.
Result: CHART_COLUMNS, one row per as-of month x tender area x provider with a known outcome
by the month's end: s (S at the month's end), h, signal (the chart signalled in the month),
signals (how many times), n_known (referrals known in the month), false_signal_rate (the
simulated in-control signals per provider-month at h), monthly_volume (the volume h was set
for). h is NaN (and nothing signals) in a month whose window holds no known outcome.

Parameters (dbt var names): cusum_odds_ratio (0.5), cusum_arl_months (60), cusum_simulations
(500), cusum_seed, cusum_calibration_months (12), cusum_volume_basis (max)."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipeline.errors import ConfigError
from pipeline.stats.patterns import StatsInputError, require_columns

REFERRAL_COLUMNS = ("provider_id", "tender_area", "known_date", "y", "p")
CHART_COLUMNS = [
    "as_of_month",
    "tender_area",
    "provider_id",
    "s",
    "h",
    "signal",
    "signals",
    "n_known",
    "false_signal_rate",
    "monthly_volume",
]
VAR_PREFIX = "cusum_"
# Simulated sequences are cut at this multiple of the target run length (in referrals); the
# censored run lengths are completed by the hazard of the sequences' second half.
HORIZON_FACTOR = 1.0
# Months x sequences x steps whose W is looked up at once: each month's table (256 kB) is read
# for many steps while it is in the cache; bounds memory (float32: 32 MB).
BLOCK_CELLS = 8_000_000
# Area months x sequences simulated side by side (one step: a few ufuncs over rows this wide).
ROW_CELLS = 32_768
# Months x sequences x steps of S kept to find the records of the running maximum (1 MB).
RECORD_CELLS = 250_000
# Bisection of h stops at this width (the simulation runs in float32: S to about 1e-3).
H_TOLERANCE = 1e-3
# The in-control distribution of W is drawn from this many equally likely values.
TABLE_SIZE = 1 << 16
# Simulated referrals are drawn in blocks of this many steps (one seed per block).
DRAW_STEPS = 1024


@dataclass(frozen=True)
class CusumParams:
    """The chart's parameters; field names are the dbt vars without the `cusum_` prefix."""

    odds_ratio: float = 0.5
    arl_months: float = 60.0
    simulations: int = 500
    seed: int = 20000
    calibration_months: int = 12
    volume_basis: Literal["max", "mean"] = "max"

    def __post_init__(self) -> None:
        if not (self.odds_ratio > 0 and self.odds_ratio != 1 and math.isfinite(self.odds_ratio)):
            raise ConfigError(f"cusum_odds_ratio must be positive and not 1 (got {self.odds_ratio})")
        if not self.arl_months > 0:
            raise ConfigError(f"cusum_arl_months must be positive (got {self.arl_months})")
        if self.simulations < 10:
            raise ConfigError(f"cusum_simulations must be at least 10 (got {self.simulations})")
        if self.seed < 0:
            raise ConfigError(f"cusum_seed must not be negative (got {self.seed})")
        if self.calibration_months < 1:
            raise ConfigError(f"cusum_calibration_months must be at least 1 (got {self.calibration_months})")
        if self.volume_basis not in ("max", "mean"):
            raise ConfigError(f"cusum_volume_basis must be max or mean (got {self.volume_basis!r})")

    @classmethod
    def from_vars(cls, variables: Mapping[str, object]) -> CusumParams:
        """From dbt vars (`cusum_odds_ratio`, ...); other vars are ignored, missing ones default."""
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for name, kind in types.items():
            key = VAR_PREFIX + name
            if key not in variables:
                continue
            values[name] = _var_value(key, variables[key], kind)
        return cls(**values)  # type: ignore[arg-type]


def _var_value(key: str, raw: object, kind: str) -> object:
    """A dbt var as the field's type; dbt hands over YAML, so "60" and 60.0 are accepted."""
    if kind not in ("int", "float"):
        return str(raw)
    try:
        number = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number (got {raw!r})") from None
    if kind == "int":
        if not number.is_integer():
            raise ConfigError(f"{key} must be a whole number (got {raw!r})")
        return int(number)
    return number


@dataclass(frozen=True)
class Threshold:
    """h for one area and month, and what the simulation says about it."""

    h: float
    false_signal_rate: float  # simulated in-control signals per provider-month at h
    monthly_volume: float  # referrals per provider-month the rate is for
    referrals: int  # expected probabilities the simulation drew from


def llr_weights(y: Iterable[float], p: Iterable[float], odds_ratio: float) -> np.ndarray:
    """W = y ln(R) - ln(1 - p + R p) per referral: the log-likelihood ratio of odds multiplied
    by R against the expected probability p."""
    y_arr, p_arr = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    return y_arr * math.log(odds_ratio) - np.log1p(p_arr * (odds_ratio - 1.0))


def cusum_path(
    w: Sequence[float] | np.ndarray, h: float | Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """S after each referral and whether it signalled there (S >= h, then S restarts at 0).

    h may be one value or one per referral (the h of the month the referral is judged in);
    NaN never signals. S is the value after the restart, so S = 0 where it signalled."""
    w_arr = np.asarray(w, dtype=float)
    h_arr = np.broadcast_to(np.asarray(h, dtype=float), w_arr.shape)
    s_out, signal = np.empty_like(w_arr), np.zeros(w_arr.shape, dtype=bool)
    s = 0.0
    for t, (wt, ht) in enumerate(zip(w_arr.tolist(), h_arr.tolist(), strict=True)):
        s = max(0.0, s + wt)
        if s >= ht:  # False for NaN
            signal[t], s = True, 0.0
        s_out[t] = s
    return s_out, signal


# --- h by simulation ------------------------------------------------------------------------------


def w_table(p_pool: np.ndarray, odds_ratio: float) -> np.ndarray:
    """The in-control distribution of W as TABLE_SIZE equally likely values (its quantiles at
    the midpoints): a referral drawn from the pool, y ~ Bernoulli(p). Drawing a table index
    is then one random number and one lookup per simulated referral; the quantisation moves at
    most 1 / TABLE_SIZE of probability."""
    w0 = -np.log1p(p_pool * (odds_ratio - 1.0))
    values = np.concatenate([w0 + math.log(odds_ratio), w0])
    weights = np.concatenate([p_pool, 1.0 - p_pool]) / len(p_pool)
    order = np.argsort(values, kind="stable")
    cdf = np.cumsum(weights[order])
    at = np.searchsorted(cdf, (np.arange(TABLE_SIZE) + 0.5) / TABLE_SIZE, side="right")
    return values[order][np.minimum(at, len(values) - 1)].astype(np.float32)


def simulation_draws(rows: int, steps: int, params: CusumParams, seed_key: Sequence[int]) -> np.ndarray:
    """Table indices for `rows` simulated sequences of `steps` referrals (shape steps x rows),
    seeded by params.seed and seed_key (e.g. the tender area): the same random numbers for
    every month of an area. Drawn in blocks of steps of their own seed, so that a longer
    horizon extends the sequences and never changes their start (a later month with more
    volume leaves the h of earlier months as they were)."""
    blocks = []
    for block in range(math.ceil(steps / DRAW_STEPS)):
        rng = np.random.default_rng([params.seed, *seed_key, block])
        blocks.append(rng.integers(0, TABLE_SIZE, size=(DRAW_STEPS, rows), dtype=np.uint16))
    return np.vstack(blocks)[:steps]


def _running_max_records(
    tables: Sequence[np.ndarray], draws: Sequence[np.ndarray], horizons: Sequence[int]
) -> list[tuple[np.ndarray, ...]]:
    """Per table (one area month's in-control W) and simulated sequence (a column of the first
    `horizons[i]` rows of draws[i], the area's draws), the records of the running maximum of S
    without signals: sequence, step and value of every new maximum, sorted by sequence and
    step. The first signal at h is the first record >= h.

    Why this shape: a cumulative ufunc (cumsum, minimum.accumulate) runs one element after the
    other, an element-wise ufunc over a wide row is vectorised. So the area months run side by
    side, one step at a time over a row of area months x sequences: C, min(0, min C) and
    S = C - min(0, min C), the same float32 operations in the same order as a cumulative sum.
    The running maximum is followed, per block of steps, only in the sequences whose S rose
    above their maximum so far in the block (records are rare)."""
    order = sorted(range(len(tables)), key=lambda i: -horizons[i])  # running months: a prefix
    tabs, ends, sources = [tables[i] for i in order], [horizons[i] for i in order], [draws[i] for i in order]
    months, rows = len(tabs), sources[0].shape[1] if sources else 1
    block = max(1, BLOCK_CELLS // max(1, months * rows))
    span = max(1, RECORD_CELLS // max(1, months * rows))
    c = np.zeros((months, rows), dtype=np.float32)
    low, top = np.zeros_like(c), np.zeros_like(c)
    w = np.empty((months, block, rows), dtype=np.float32)
    s = np.empty((span, months, rows), dtype=np.float32)
    found = [[np.zeros(0, dtype=np.intp)] for _ in range(3)] + [[np.zeros(0)]]  # month, row, step, value
    first, running = 0, months
    while running:
        k = min(block, ends[running - 1] - first)  # no month ends inside a block
        for j in range(running):  # draws are table indices: always in range, so no checks
            np.take(tabs[j], sources[j][first : first + k], out=w[j, :k], mode="clip")
        c_run, low_run = c[:running], low[:running]
        for part in range(0, k, span):
            steps = min(span, k - part)
            for t in range(steps):
                np.add(c_run, w[:running, part + t], out=c_run)  # C
                np.minimum(low_run, c_run, out=low_run)  # min(0, min C)
                np.subtract(c_run, low_run, out=s[t, :running])  # S without signals
            _block_records(s[:steps, :running], top[:running], first + part, found)
        first += k
        while running and ends[running - 1] <= first:
            running -= 1
    month, row, step, value = (np.concatenate(part) for part in found)
    by_month = np.lexsort((step, row, month))
    month, row, step, value = month[by_month], row[by_month], step[by_month], value[by_month]
    bounds = np.searchsorted(month, np.arange(months + 1))
    out: list[tuple[np.ndarray, ...]] = [()] * months
    for j, i in enumerate(order):
        part = slice(bounds[j], bounds[j + 1])
        out[i] = (row[part], step[part], value[part])
    return out


def _block_records(s: np.ndarray, top: np.ndarray, first: int, found: list[list[np.ndarray]]) -> None:
    """The records in one block of S (steps x months x sequences, from step `first`) beyond
    `top` (the running maximum before the block, updated here), appended to `found` as month,
    sequence, step and value."""
    month, row = np.divmod(np.flatnonzero(s.max(axis=0) > top), top.shape[1])
    if len(month) == 0:
        return
    path = np.empty((s.shape[0] + 1, len(month)), dtype=np.float32)
    path[0] = top[month, row]
    path[1:] = s[:, month, row]
    np.maximum.accumulate(path, axis=0, out=path)
    step, at = np.nonzero(path[1:] > path[:-1])
    for part, values in zip(
        found, (month[at], row[at], step + first, path[step + 1, at].astype(np.float64)), strict=True
    ):
        part.append(values)
    top[month, row] = path[-1]


class _RunLengths:
    """Run lengths to the first signal for any h, from the records of the running maxima."""

    def __init__(self, records: tuple[np.ndarray, ...], n_rows: int, horizon: int) -> None:
        rows, self.steps, values = records
        self.n_rows, self.horizon = n_rows, horizon
        self.top = float(values.max()) if len(values) else 0.0
        self.span = self.top + 1.0
        self.flat = values + rows * self.span  # sorted: rows ascending, values rising in a row
        self.row_end = np.searchsorted(rows, np.arange(n_rows), side="right")

    def rate_per_referral(self, h: float) -> float:
        """False signals per referral at h (> 0) of the restarted chart: 1 / its mean run
        length (renewal). A sequence cut before its first signal adds the referrals it ran
        plus, beyond the cut, 1 / the hazard seen in the second half of the sequences (the
        run length's tail is memoryless once the chart has left its start at 0)."""
        if len(self.steps) == 0:  # S never rose above 0 (e.g. every p is 0 or 1): no signal
            return 0.0
        at = np.searchsorted(self.flat, np.arange(self.n_rows) * self.span + h, side="left")
        signalled = at < self.row_end
        lengths = np.where(signalled, self.steps[np.minimum(at, len(self.steps) - 1)] + 1, self.horizon)
        half = self.horizon / 2
        late = lengths > half
        tail_signals = float((signalled & late).sum())
        tail_exposure = float((lengths[late] - half).sum())
        censored = float((~signalled).sum())
        if tail_signals == 0:  # no signal late in the sequences: the whole-sequence hazard
            tail_signals, tail_exposure = float(signalled.sum()), float(lengths.sum())
        if tail_signals == 0:
            return 0.0
        mean_length = (float(lengths.sum()) + censored * tail_exposure / tail_signals) / self.n_rows
        return 1.0 / mean_length


def horizon_steps(monthly_volume: float, params: CusumParams) -> int:
    """Referrals per simulated sequence: HORIZON_FACTOR x the target run length."""
    return max(2, math.ceil(HORIZON_FACTOR * params.arl_months * monthly_volume))


# One area month to calibrate: its expected probabilities, monthly volume and the area's draws.
Calibration = tuple[np.ndarray, float, np.ndarray]


def _calibrate(jobs: Sequence[Calibration], params: CusumParams) -> list[Threshold]:
    """h for each area month, all simulated in one pass (_running_max_records)."""
    simulated = [i for i, (p, volume, _) in enumerate(jobs) if len(p) and volume > 0]
    horizons = [horizon_steps(jobs[i][1], params) for i in simulated]
    tables = [w_table(jobs[i][0], params.odds_ratio) for i in simulated]
    draws = [jobs[i][2] for i in simulated]
    # a row of at most ROW_CELLS: wider rows leave the cache; similar horizons side by side
    by_horizon = sorted(range(len(simulated)), key=lambda i: -horizons[i])
    size = max(1, ROW_CELLS // (draws[0].shape[1] if draws else 1))
    records = {}
    for start in range(0, len(by_horizon), size):
        part = by_horizon[start : start + size]
        found = _running_max_records(
            [tables[i] for i in part], [draws[i] for i in part], [horizons[i] for i in part]
        )
        records.update({simulated[i]: r for i, r in zip(part, found, strict=True)})
    out = []
    for i, (p, volume, area_draws) in enumerate(jobs):
        if i not in records:
            out.append(Threshold(math.nan, math.nan, float(volume), len(p)))
            continue
        horizon = horizon_steps(volume, params)
        runs = _RunLengths(records[i], area_draws.shape[1], horizon)
        out.append(_bisect(runs, volume, params, len(p)))
    return out


def _bisect(runs: _RunLengths, monthly_volume: float, params: CusumParams, referrals: int) -> Threshold:
    """The smallest h (to H_TOLERANCE) whose simulated rate meets the target."""
    target_per_referral = 1.0 / (params.arl_months * monthly_volume)
    low, high = 0.0, runs.top + H_TOLERANCE  # above every record: no signal at all
    while high - low > H_TOLERANCE:
        mid = (low + high) / 2
        low, high = (mid, high) if runs.rate_per_referral(mid) > target_per_referral else (low, mid)
    return Threshold(high, runs.rate_per_referral(high) * monthly_volume, float(monthly_volume), referrals)


def _pool(p_pool: Sequence[float] | np.ndarray) -> np.ndarray:
    p = np.asarray(p_pool, dtype=float)
    if np.isnan(p).any() or ((p < 0) | (p > 1)).any():
        raise StatsInputError("expected probabilities must lie between 0 and 1")
    return p


def calibrate_threshold(
    p_pool: Sequence[float] | np.ndarray,
    monthly_volume: float,
    params: CusumParams,
    seed_key: Sequence[int] = (),
) -> Threshold:
    """The smallest h at which a provider with `monthly_volume` referrals a month, drawn from
    `p_pool` with exactly expected results, signals at most once in `arl_months` months on
    average (simulated; the rate at h is returned with it). seed_key (e.g. the tender area)
    picks the random numbers, together with params.seed."""
    p = _pool(p_pool)
    steps = horizon_steps(monthly_volume, params) if monthly_volume > 0 else 1
    draws = simulation_draws(params.simulations, steps, params, seed_key)
    return _calibrate([(p, monthly_volume, draws)], params)[0]


# --- the chart per provider and month --------------------------------------------------------------


def _month_index(dates: pd.Series) -> np.ndarray:
    d = pd.to_datetime(dates)
    return (d.dt.year * 12 + d.dt.month - 1).to_numpy()


def _checked(referrals: pd.DataFrame) -> pd.DataFrame:
    require_columns(referrals.columns, REFERRAL_COLUMNS, "the CUSUM")
    frame = referrals.copy()
    if frame["known_date"].isna().any():
        raise StatsInputError("the CUSUM needs known_date on every referral (drop those not yet known)")
    y, p = pd.to_numeric(frame["y"], errors="coerce"), pd.to_numeric(frame["p"], errors="coerce")
    if not y.isin([0, 1]).all():
        raise StatsInputError("the CUSUM needs y = 0 or 1 on every referral")
    if p.isna().any() or ((p < 0) | (p > 1)).any():
        raise StatsInputError("the CUSUM needs p between 0 and 1 on every referral")
    frame["y"], frame["p"] = y.astype(float), p.astype(float)
    frame["month"] = _month_index(frame["known_date"])
    order = ["known_date", "referral_id"] if "referral_id" in frame.columns else ["known_date"]
    return frame.sort_values(order, kind="stable")


THRESHOLD_COLUMNS = ["tender_area", "month", "h", "false_signal_rate", "monthly_volume"]
# (tender_area, month index) -> a threshold an earlier build computed from the same window.
KnownThresholds = Mapping[tuple[object, int], Threshold]


def _window(month: np.ndarray, m: int, params: CusumParams) -> np.ndarray:
    """The referrals (of one area) h of month index m is calibrated from."""
    return (month > m - params.calibration_months) & (month <= m)


def area_thresholds(
    referrals: pd.DataFrame,
    months: Sequence[int],
    params: CusumParams,
    known: KnownThresholds | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """h per tender area and month index (year x 12 + month - 1), each from the referrals of
    the area known in the `calibration_months` months up to and including the month.

    `known` (an incremental build): thresholds whose window is unchanged since they were
    computed (window_fingerprints); they are taken as they are, the rest simulated.
    `workers`: threads simulating at once (default: the CPU count). numpy works without the
    GIL, and every area month has its area's seeded draws, so the result does not depend on
    it. The area months are dealt to the threads by horizon, largest first, so that each gets
    about the same number of simulated steps, and a wide row of them (_running_max_records)."""
    known = known or {}
    keys: list[tuple[Any, int]] = []
    volumes: list[float] = []
    jobs: list[Calibration] = []
    for area, rows in referrals.groupby("tender_area", sort=True):
        for m, pool, volume, draws in _area_windows(area, rows, months, params, known):
            keys.append((area, m))
            volumes.append(volume)
            if draws is not None:
                jobs.append((pool, volume, draws))
    count = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    by_horizon = sorted(range(len(jobs)), key=lambda i: -jobs[i][1])
    shares = [by_horizon[start::count] for start in range(count)]

    def calibrate(share: list[int]) -> list[Threshold]:
        return _calibrate([jobs[i] for i in share], params)

    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="cusum") as pool:
        done = list(pool.map(calibrate, shares))
    simulated = dict(
        zip([i for share in shares for i in share], [t for part in done for t in part], strict=True)
    )
    out, at = [], 0
    for key in keys:
        t = known.get(key)
        if t is None:
            t, at = simulated[at], at + 1
        out.append((*key, t.h, t.false_signal_rate, t.monthly_volume))
    return pd.DataFrame(out, columns=THRESHOLD_COLUMNS)


def _area_windows(
    area: Any, rows: pd.DataFrame, months: Sequence[int], params: CusumParams, known: KnownThresholds
) -> list[tuple[int, np.ndarray, float, np.ndarray | None]]:
    """Per month of one area: the expected probabilities of its window, the monthly volume and
    the area's draws (None where the threshold is known), enough rows for its largest volume."""
    month, p = rows["month"].to_numpy(), rows["p"].to_numpy()
    first = int(month.min())
    windows = []
    for m in months:
        window = _window(month, m, params)
        span = max(1, min(params.calibration_months, m - first + 1))  # months with data so far
        per_provider = rows.loc[window, "provider_id"].value_counts() / span
        basis = per_provider.max() if params.volume_basis == "max" else per_provider.mean()
        windows.append((m, p[window], float(basis) if len(per_provider) else 0.0))
    # Only the months simulated need draws (a sequence's start never depends on its length).
    todo = [(m, pool, volume) for m, pool, volume in windows if (area, m) not in known]
    steps = max((horizon_steps(volume, params) for _, _, volume in todo if volume > 0), default=1)
    draws = simulation_draws(params.simulations, steps, params, (int(area),))
    return [(m, pool, volume, None if (area, m) in known else draws) for m, pool, volume in windows]


def window_fingerprints(
    referrals: pd.DataFrame, months: Sequence[int], params: CusumParams, salt: str
) -> pd.DataFrame:
    """tender_area, month, fingerprint: per area and month index, a digest of everything its h
    is computed from (area_thresholds): the window's referrals in the order they are met
    (provider and p), the area's first month (the volume's span), the parameters and `salt`
    (the code's digest). Equal fingerprints give the same threshold bit for bit."""
    out = []
    for area, rows in referrals.groupby("tender_area", sort=True):
        month, p = rows["month"].to_numpy(), rows["p"].to_numpy(dtype=np.float64)
        providers = pd.util.hash_array(rows["provider_id"].astype(str).to_numpy())
        head = f"{salt}|{params}|{area}|{int(month.min())}|".encode()
        for m in months:
            window = _window(month, m, params)
            digest = hashlib.sha256(head + str(m).encode())
            digest.update(providers[window].tobytes())
            digest.update(p[window].tobytes())
            out.append((area, m, digest.hexdigest()[:32]))
    return pd.DataFrame(out, columns=["tender_area", "month", "fingerprint"])


def chart_months(
    referrals: pd.DataFrame, as_of_months: Iterable[date | str | pd.Timestamp]
) -> tuple[list[int], list[int]]:
    """The month indices reported (the as-of months) and those the chart runs over (from the
    first with a known outcome, or the first reported, to the last reported); `referrals`
    as checked (a month column)."""
    wanted = sorted({int(m) for m in _month_index(pd.Series(list(as_of_months)))})
    if referrals.empty or not wanted:
        return wanted, []
    return wanted, list(range(min(int(referrals["month"].min()), wanted[0]), wanted[-1] + 1))


def checked_referrals(referrals: pd.DataFrame) -> pd.DataFrame:
    """The referrals as the chart reads them: checked, with their month index, in the order
    they enter (known_date, referral_id)."""
    return _checked(referrals)


def cusum_by_month(
    referrals: pd.DataFrame,
    as_of_months: Iterable[date | str | pd.Timestamp],
    params: CusumParams,
    thresholds: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The chart per as-of month x tender area x provider (CHART_COLUMNS; module docstring).

    `thresholds` (THRESHOLD_COLUMNS, e.g. computed once by area_thresholds and stored): h of
    every area and month the chart runs over; computed here when not given."""
    frame = _checked(referrals)
    wanted, months = chart_months(frame, as_of_months)
    if not months:
        return pd.DataFrame(columns=CHART_COLUMNS)
    by_month = area_thresholds(frame, months, params) if thresholds is None else thresholds
    _require_thresholds(by_month, frame["tender_area"].unique(), months)
    thresholds = by_month.set_index(["tender_area", "month"])
    frame["w"] = llr_weights(frame["y"], frame["p"], params.odds_ratio)
    frame = frame[frame["month"] <= wanted[-1]].merge(by_month[["tender_area", "month", "h"]], how="left")
    out = []
    for (area, provider), rows in frame.groupby(["tender_area", "provider_id"], sort=True):
        s, signal = cusum_path(rows["w"].to_numpy(), rows["h"].to_numpy())
        month = rows["month"].to_numpy()
        for m in wanted:
            if month[0] > m:
                continue
            upto = np.searchsorted(month, m, side="right")
            inside = slice(np.searchsorted(month, m, side="left"), upto)
            t = thresholds.loc[(area, m)]
            out.append(
                (
                    _month_date(m),
                    area,
                    provider,
                    float(s[upto - 1]),
                    float(t["h"]),
                    bool(signal[inside].any()),
                    int(signal[inside].sum()),
                    int(upto - inside.start),
                    float(t["false_signal_rate"]),
                    float(t["monthly_volume"]),
                )
            )
    return pd.DataFrame(out, columns=CHART_COLUMNS).sort_values(
        ["as_of_month", "tender_area", "provider_id"], ignore_index=True
    )


def _require_thresholds(thresholds: pd.DataFrame, areas: Iterable[object], months: Sequence[int]) -> None:
    """Given thresholds must cover every area and month the chart runs over: a missing one
    would silently never signal."""
    have = set(zip(thresholds["tender_area"], thresholds["month"].astype(int), strict=True))
    missing = [(a, m) for a in areas for m in months if (a, m) not in have]
    if missing:
        area, m = missing[0]
        raise StatsInputError(
            f"the CUSUM has no threshold for {len(missing)} area month(s), e.g. tender area {area}, "
            f"{_month_date(m).isoformat()}"
        )


def _month_date(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)
