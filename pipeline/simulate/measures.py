"""The month's decision inputs in memory (what fct_decision_inputs holds for one as-of month),
computed with the pipeline's own statistics so that no rule is implemented twice:

- the rolling base of metrics.md (window ended in the 12 months up to the as-of date), the
  area's primary measure only: `has_result` (window end: closed, end + result grace; a success
  known on its first counted result) or `fit_within_6m` (population: sick-listed at the start;
  window end: start + 182 days);
- risk adjustment, O/E, z and the funnel evidence: pipeline.stats.risk_adjust on that base;
  each referral's expected probability from the model of the month its measure matured:
  pipeline.stats.expected.referral_expected; both from one fit per area
  (pipeline.stats.expected.risk_adjust_and_expected), kept on the world for the other
  policies that reach the same base;
- the early-warning CUSUM: pipeline.decisions.early_warning.chart_referrals' rule for p and the
  known date, h by pipeline.stats.cusum.area_thresholds, S by cusum_path;
- model A's lift cohorts and model B's state cohorts counted as the dbt models
  int_lift_cohorts_counted_to_months and fct_decision_inputs count them.

The loop adds each month's bookings (`book`) and then asks for the month's rows (`month_rows`);
everything judged in month m is dated on or before its last day."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from pipeline.decisions.hard import LiftCohort
from pipeline.decisions.inputs import ProviderMonth
from pipeline.decisions.soft import StateCohort
from pipeline.errors import ProvmonError
from pipeline.generate.timeline import NULL, date_of
from pipeline.parameters import dbt_var_defaults
from pipeline.simulate.world import SimWorld, month_first_day, month_last_day
from pipeline.stats.config import StatsConfig
from pipeline.stats.cusum import CusumParams, area_thresholds, cusum_path, llr_weights
from pipeline.stats.expected import risk_adjust_and_expected
from pipeline.stats.intervals import wilson_interval

# The measures the closed loop can draw (the generator's drivers behind them).
MEASURE_DRIVERS = {"has_result": "result", "fit_within_6m": "fit"}
FIT_WINDOW_DAYS = int(dbt_var_defaults()["fit_window_days"])
# The decision reasons quote the measure's Danish label (dim_measures, from the dbt macro
# provider_measures); the simulation has no warehouse to read them from.
MEASURE_LABELS = {
    "has_result": "Registreret resultat (afsluttede forløb)",
    "fit_within_6m": f"Raskmeldt (helt eller delvist) inden for {FIT_WINDOW_DAYS} dage",
}
COVARIATES = (
    "age_at_start",
    "sex",
    "benefit_at_start",
    "benefit_weeks_52",
    "paid_hours_baseline",
    "prior_referrals",
    "offer_code",
    "purpose",
    "start_quarter",
)


class SimulationError(ProvmonError):
    """The simulation cannot run with these settings (e.g. a primary measure it cannot draw)."""


def month_date(month: int) -> date:
    """The first day of a generator month number."""
    return date_of(month_first_day(month))


def cusum_month(month: int) -> int:
    """The CUSUM's month index (year x 12 + month - 1) of a generator month number."""
    d = month_date(month)
    return d.year * 12 + d.month - 1


@dataclass
class Measures:
    """The booked referrals so far and what the statistics have said about them."""

    sim: SimWorld
    primary: Mapping[int, str]  # tender area -> primary measure
    stats: StatsConfig
    cusum: CusumParams
    min_n: int
    wilson_level: float = 0.95
    booked: list[pd.DataFrame] = field(default_factory=list)
    dated: pd.DataFrame | None = None
    expected: dict[int, tuple[int, float]] = field(default_factory=dict)  # referral -> (month, p)
    area_rates: dict[tuple[int, int], float] = field(default_factory=dict)  # (month, area) -> rate
    chart: pd.DataFrame | None = None  # every referral known so far: month, p, w, h
    cusum_s: dict[tuple[int, int], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted({m for m in self.primary.values() if m not in MEASURE_DRIVERS})
        if unknown:
            raise SimulationError(
                f"provmon simulate can draw the primary measures {', '.join(MEASURE_DRIVERS)}, "
                f"not {', '.join(unknown)} (dbt var primary_measures)"
            )

    # --- bookings --------------------------------------------------------------------------

    def book(self, rows: pd.DataFrame) -> None:
        """Add referrals with their provider and drawn outcome (columns provider, has_result, fit)."""
        grace = self.sim.world.outcomes.result_grace_days
        measure = rows["tender_area"].map(self.primary)
        aftercare = rows["offer_code"] == self.sim.world.aftercare.offer
        is_fit = measure == "fit_within_6m"
        in_population = ~aftercare & (~is_fit | rows["sick_open"])
        success = np.where(is_fit, rows["fit"], rows["has_result"]).astype(float)
        window_end = np.where(is_fit, rows["start_day"] + FIT_WINDOW_DAYS, rows["end_day"] + grace)
        known = np.where(is_fit, window_end, rows["result_day"])
        frame = rows.assign(
            measure=measure,
            success=np.where(in_population, success, np.nan),
            window_end=window_end.astype(np.int64),
            success_known_on=np.where(in_population & (success == 1), known, NULL).astype(np.int64),
        )
        frame["window_end_month"] = (
            frame["window_end"].to_numpy().astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        )
        self.booked.append(frame)
        self.dated = None

    @property
    def all_dated(self) -> pd.DataFrame:
        if self.dated is None:
            self.dated = pd.concat(self.booked, ignore_index=True) if self.booked else pd.DataFrame()
        return self.dated

    # --- the month's provider rows -----------------------------------------------------------

    def base(self, month: int) -> pd.DataFrame:
        """The month's risk base: mature referrals of the primary measure whose window ended in
        the 12 months up to the month's end."""
        d = self.all_dated
        inside = d["success"].notna() & d["window_end_month"].between(month - 11, month)
        base = d.loc[inside]
        return pd.DataFrame(
            {
                "as_of_month": month_date(month),
                "tender_area": base["tender_area"].to_numpy(),
                "measure": base["measure"].to_numpy(),
                "provider_id": np.array(self.sim.market.provider_ids, dtype=object)[
                    base["provider"].to_numpy()
                ],
                "outcome": base["success"].to_numpy() == 1,
                "referral_id": base["referral_id"].to_numpy(),
                "window_end_month": _month_dates(base["window_end_month"].to_numpy()),
                **{c: base[c].to_numpy() for c in COVARIATES},
            }
        )

    def provider_rows(
        self, month: int, agreements: pd.DataFrame, signals: bool = True, model_b: bool = True
    ) -> list[ProviderMonth]:
        """The month's ProviderMonth rows: every provider with a base or a valid agreement.

        model_b=False leaves out what only model B reads (the risk model, the expected
        probabilities, the CUSUM): model A judges raw rates and its stop cohort's counts, and
        these statistics are nine tenths of a month's time. signals=False leaves out the CUSUM
        (the policy without early warning never reads it)."""
        base = self.base(month)
        risk = self._risk_adjust(base, month) if len(base) and model_b else pd.DataFrame()
        counts = base.groupby(["tender_area", "provider_id"])["outcome"].agg(["size", "sum"])
        area = base.groupby("tender_area")["outcome"].agg(["size", "sum"])
        for a, r in area.iterrows():
            self.area_rates[(month, int(a))] = r["sum"] / r["size"]
        if model_b and signals:
            self._update_chart(month)
        risk_by = (
            {} if risk.empty else {(int(r["tender_area"]), r["provider_id"]): r for _, r in risk.iterrows()}
        )
        agreed = {
            (p, int(a)): ends
            for p, a, ends in agreements[["provider_id", "tender_area", "ends"]].itertuples(index=False)
        }
        keys = sorted({(p, int(a)) for a, p in counts.index} | set(agreed), key=lambda k: (k[1], k[0]))
        rows = []
        for provider, a in keys:
            n, s = (
                (int(counts.loc[(a, provider), "size"]), int(counts.loc[(a, provider), "sum"]))
                if (a, provider) in counts.index
                else (0, 0)
            )
            rows.append(
                self._row(month, provider, a, n, s, area, risk_by.get((a, provider)), agreed, signals)
            )
        return rows

    def _row(
        self,
        month: int,
        provider: str,
        a: int,
        n: int,
        s: int,
        area: pd.DataFrame,
        risk: pd.Series | None,
        agreed: Mapping[tuple[str, int], bool],
        signals: bool,
    ) -> ProviderMonth:
        area_n, area_s = (int(area.loc[a, "size"]), int(area.loc[a, "sum"])) if a in area.index else (0, 0)
        low, high = wilson_interval(np.array([s]), np.array([n]), self.wilson_level) if n else (None, None)
        chart = self._chart_row(month, provider, a)

        def value(name: str) -> object:
            if risk is None or name not in risk or pd.isna(risk[name]):
                return None
            v = risk[name]
            return v.item() if hasattr(v, "item") else v

        return ProviderMonth(
            month=month_date(month),
            provider_id=provider,
            tender_area=a,
            measure=self.primary[a],
            n=n,
            successes=s,
            rate=s / n if n else None,
            wilson_low=float(low[0]) if n else None,
            wilson_high=float(high[0]) if n else None,
            area_rate=area_s / area_n if area_n else None,
            area_rate_excl_provider=(area_s - s) / (area_n - n) if area_n - n > 0 else None,
            expected=value("expected"),  # type: ignore[arg-type]
            risk_adjusted_rate=value("risk_adjusted_rate"),  # type: ignore[arg-type]
            risk_adjusted_rate_low=value("risk_adjusted_rate_low"),  # type: ignore[arg-type]
            risk_adjusted_rate_high=value("risk_adjusted_rate_high"),  # type: ignore[arg-type]
            z_score=value("z_score"),  # type: ignore[arg-type]
            adjustment_status=value("adjustment_status"),  # type: ignore[arg-type]
            # no base row: NULL, as fct_decision_inputs has it (the engine judges it insufficient)
            evidence=value("evidence") if n else None,  # type: ignore[arg-type]
            has_agreement=(provider, a) in agreed,
            agreement_ends_in_month=bool(agreed.get((provider, a), False)),
            cusum_s=chart[0],
            cusum_h=chart[1],
            cusum_signal=bool(chart[2]) and signals,
        )

    # --- expected probabilities and the CUSUM ----------------------------------------------

    def _risk_adjust(self, base: pd.DataFrame, month: int) -> pd.DataFrame:
        """risk_adjust of the month's base; each referral that matured in the month keeps its
        expected probability from the same fit (referral_expected: the model of the month its
        measure matured). One pattern count and one fit per area serve both, on the base
        copied into DuckDB once (a DataFrame would be scanned again by each of their queries),
        and a base another policy of the world already had is not fitted again."""
        key = self._content_key(base)
        if key not in self.sim.stats_cache:
            with duckdb.connect() as con:
                con.from_df(base).create("risk_base")
                risk, expected = risk_adjust_and_expected(con.table("risk_base"), self.stats)
            matured = [
                (int(r), float(p))
                for r, p in zip(expected["referral_id"], expected["expected_p"], strict=True)
            ]
            self.sim.stats_cache[key] = (risk, matured)
        risk, matured = self.sim.stats_cache[key]  # type: ignore[misc]
        for rid, p in matured:
            self.expected[rid] = (month, p)
        return risk

    def _content_key(self, base: pd.DataFrame) -> bytes:
        """A digest of everything the statistics read: every column of the base and the
        statistics' configuration."""
        digest = hashlib.blake2b(digest_size=32)
        digest.update(repr((list(base.columns), self.stats)).encode())
        digest.update(pd.util.hash_pandas_object(base, index=False).to_numpy().tobytes())
        return digest.digest()

    def _update_chart(self, month: int) -> None:
        """Add the referrals whose outcome became known (window ended) in the month, with p as
        known then (else the area's rate), and run the chart with the month's h."""
        d = self.all_dated
        # the warehouse's order (pipeline.stats.cusum): known date, then the delivered referral id
        new = d[d["success"].notna() & (d["window_end_month"] == month)].sort_values(
            ["window_end", "register_id"], kind="stable"
        )
        known = [self.expected.get(int(r)) for r in new["referral_id"]]
        rate = new["tender_area"].map(lambda a: self.area_rates.get((month, int(a)), np.nan))
        p = np.array([k[1] if k and k[0] <= month else np.nan for k in known], dtype=float)
        p = np.where(np.isnan(p), rate.to_numpy(dtype=float), p)
        frame = pd.DataFrame(
            {
                "provider_id": np.array(self.sim.market.provider_ids, dtype=object)[
                    new["provider"].to_numpy()
                ],
                "tender_area": new["tender_area"].to_numpy(),
                "month": cusum_month(month),
                "y": new["success"].to_numpy(),
                "p": p,
            }
        )
        frame = frame[~np.isnan(frame["p"])]
        chart = frame if self.chart is None else pd.concat([self.chart, frame], ignore_index=True)
        if chart.empty:
            self.chart = chart
            return
        h = area_thresholds(chart, [cusum_month(month)], self.cusum).set_index("tender_area")["h"]
        frame = frame.assign(
            w=llr_weights(frame["y"], frame["p"], self.cusum.odds_ratio), h=frame["tender_area"].map(h)
        )
        self._signals = {}
        for (provider, a), rows in frame.groupby(["provider_id", "tender_area"], sort=False):
            start = self.cusum_s.get((provider, int(a)), 0.0)
            w = np.concatenate([[start], rows["w"].to_numpy()])
            hs = np.concatenate([[np.inf], rows["h"].to_numpy()])
            s, signal = cusum_path(w, hs)
            self.cusum_s[(provider, int(a))] = float(s[-1])
            self._signals[(provider, int(a))] = bool(signal[1:].any())
        self._h = h
        self.chart = chart.assign(w=np.nan, h=np.nan)[["provider_id", "tender_area", "month", "y", "p"]]

    def _chart_row(self, month: int, provider: str, a: int) -> tuple[float | None, float | None, bool]:
        if (provider, a) not in self.cusum_s:
            return None, None, False
        h = getattr(self, "_h", pd.Series(dtype=float))
        return (
            self.cusum_s[(provider, a)],
            float(h[a]) if a in h.index else None,
            getattr(self, "_signals", {}).get((provider, a), False),
        )

    # --- cohorts ---------------------------------------------------------------------------

    def _judged(self, provider: str, a: int, entry: date, month: int) -> pd.DataFrame:
        """The provider's referrals ongoing at the entry month's end or started since, started
        by the as-of date, with is_success / is_finished as known at the month's end."""
        d = self.all_dated
        pid = self.sim.market.provider_ids.index(provider)
        entry_end = month_last_day(_month_number(entry))
        as_of = month_last_day(month)
        mine = d[
            (d["provider"] == pid)
            & (d["tender_area"] == a)
            & (d["end_day"] > entry_end)
            & (d["start_day"] <= as_of)
        ]
        success = (mine["success_known_on"] != NULL) & (mine["success_known_on"] <= as_of)
        finished = mine["success"].notna() & (mine["window_end"] <= as_of)
        return mine.assign(is_success=success, is_finished=finished)

    def lift_cohort(self, provider: str, a: int, stop: date, month: int) -> LiftCohort:
        """Model A's stop cohort (int_lift_cohorts_counted_to_months): ongoing at the stop
        month's end and started by then."""
        j = self._judged(provider, a, stop, month)
        j = j[j["start_day"] <= month_last_day(_month_number(stop))]
        return LiftCohort(
            ongoing_at_stop=len(j),
            closed=int((j["is_success"] | j["is_finished"]).sum()),
            with_result=int(j["is_success"].sum()),
            finished=int(j["is_finished"].sum()),
        )

    def state_cohort(self, provider: str, a: int, entry: date, month: int) -> StateCohort:
        """Model B's state cohort (fct_decision_inputs.state_cohorts) for one entry month."""
        j = self._judged(provider, a, entry, month)
        j = j[j["is_success"] | j["is_finished"]]
        rate = self.area_rates.get((month, a))
        p = np.array(
            [
                e[1]
                if (e := self.expected.get(int(r))) is not None and e[0] <= month
                else (rate if rate is not None else np.nan)
                for r in j["referral_id"]
            ],
            dtype=float,
        )
        return StateCohort(
            judged=len(j),
            successes=int(j["is_success"].sum()),
            expected=float(np.nansum(p)),
            variance=float(np.nansum(p * (1 - p))),
        )


def _month_dates(months: np.ndarray) -> np.ndarray:
    """month_date of each month number, as date objects (computed once per distinct month)."""
    distinct, where = np.unique(months, return_inverse=True)
    return np.array([month_date(int(m)) for m in distinct], dtype=object)[where.reshape(-1)]


def _month_number(d: date) -> int:
    return (d.year - 1970) * 12 + d.month - 1


@dataclass
class SimCohorts:
    """The CohortSource of the engine, counted in memory for one as-of month."""

    measures: Measures
    month: int

    def cohort(self, provider_id: str, tender_area: int, stop_month: date, measure: str) -> LiftCohort:
        return self.measures.lift_cohort(provider_id, int(tender_area), stop_month, self.month)
