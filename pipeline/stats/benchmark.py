"""Speed check of the risk adjustment at city and national scale (issue 5's time targets:
≤ 30 s added to a city build, ≤ 3 min at national scale).

    python -m pipeline.stats.benchmark --scale city

Simulates a per-referral risk base of the shape dbt delivers (every referral in the bases of
the 12 as-of months after its window ends, one row per measure), then times the step a build
runs: risk_adjust (pattern counts in DuckDB and the fits, per tender area × measure).
Synthetic only: it reads no warehouse and writes nothing."""

from __future__ import annotations

import argparse
import resource
import time
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from pipeline.stats.compare import risk_adjust
from pipeline.stats.config import load_stats_config


@dataclass(frozen=True)
class Scale:
    referrals: int
    months: int = 60
    areas: int = 4
    providers_per_area: int = 8
    measures: int = 13


SCALES = {
    "small": Scale(referrals=5_000, months=24),
    "city": Scale(referrals=50_000),
    "national": Scale(referrals=1_000_000, providers_per_area=40),
}
CODES = {
    "benefit_at_start": ["cash_assistance", "education_assistance", "sickness_benefit", "job_clarification",
                         "resource_course", "flex_unemployment", "unemployment_benefit"],
    "offer_code": ["virk", "mest", "ment", "fast", "eftv", "helh"],
    "purpose": ["job", "paid_hours", "education", "clarification", "return_to_work", "retention"],
}  # fmt: skip


def simulate_referrals(scale: Scale, rng: np.random.Generator) -> pd.DataFrame:
    """One row per referral: area, provider, start month and case-mix covariates, with providers
    differing in case mix (a provider-level shift in age and benefit history)."""
    size = scale.referrals
    area = rng.integers(1, scale.areas + 1, size)
    provider_in_area = rng.integers(0, scale.providers_per_area, size)
    mix = (provider_in_area - scale.providers_per_area / 2) / scale.providers_per_area  # -0.5 .. 0.5
    frame = pd.DataFrame(
        {
            "ref": np.arange(size),
            "tender_area": area,
            "provider_id": [f"P{a}{p:02d}" for a, p in zip(area, provider_in_area, strict=True)],
            "start_month": rng.integers(-18, scale.months, size),
            "age_at_start": np.clip(rng.normal(42 + 10 * mix, 11, size), 18, 67).astype(int),
            "sex": rng.choice(["M", "F"], size),
            "benefit_weeks_52": np.clip(rng.normal(30 + 20 * mix, 15, size), 0, 52).astype(int),
            "paid_hours_baseline": np.where(rng.random(size) < 0.7, 0.0, rng.gamma(2.0, 15.0, size)),
            "prior_referrals": rng.poisson(1.0, size),
        }
    )
    for column, codes in CODES.items():
        frame[column] = rng.choice(codes, size)
    frame["start_quarter"] = (frame["start_month"] % 12) // 3 + 1
    return frame


def simulate_outcomes(referrals: pd.DataFrame, scale: Scale, rng: np.random.Generator) -> pd.DataFrame:
    """One row per referral × measure in the measure's population: outcome and window end."""
    frames = []
    provider_effect = {p: rng.choice([0.0, 0.0, 0.0, -0.5]) for p in referrals["provider_id"].unique()}
    effect = referrals["provider_id"].map(provider_effect).to_numpy()
    risk = (
        -0.03 * (referrals["age_at_start"] - 42)
        - 0.03 * (referrals["benefit_weeks_52"] - 30)
        + 0.02 * referrals["paid_hours_baseline"].clip(upper=60)
    ).to_numpy()
    for m in range(scale.measures):
        in_population = rng.random(len(referrals)) < rng.uniform(0.3, 1.0)
        logit = rng.uniform(-2.0, 0.5) + risk + effect
        outcome = rng.random(len(referrals)) < 1 / (1 + np.exp(-logit))
        window = int(rng.choice([6, 9, 12, 15]))
        frames.append(
            pd.DataFrame(
                {
                    "ref": referrals["ref"].to_numpy()[in_population],
                    "measure": f"measure_{m + 1:02d}",
                    "outcome": outcome[in_population],
                    "window_end": referrals["start_month"].to_numpy()[in_population] + window,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def risk_base(con: duckdb.DuckDBPyConnection, scale: Scale, seed: int) -> duckdb.DuckDBPyRelation:
    """The long risk base as a DuckDB view: each referral in the 12 monthly bases after its window."""
    con.execute("set enable_progress_bar = false")
    rng = np.random.default_rng(seed)
    referrals = simulate_referrals(scale, rng)
    outcomes = simulate_outcomes(referrals, scale, rng)
    con.register("referrals_df", referrals)
    con.register("outcomes_df", outcomes)
    con.execute("create table referrals as select * from referrals_df")
    con.execute("create table outcomes as select * from outcomes_df")
    con.execute(
        f"""create view risk_base as
        select o.window_end + k.k as as_of_month, o.measure, r.tender_area, r.provider_id, o.outcome,
               r.age_at_start, r.sex, r.benefit_at_start, r.benefit_weeks_52, r.paid_hours_baseline,
               r.prior_referrals, r.offer_code, r.purpose, r.start_quarter
        from outcomes o join referrals r using (ref) cross join range(12) k(k)
        where o.window_end + k.k between 0 and {scale.months - 1}"""
    )
    return con.table("risk_base")


def run(scale: str | Scale, seed: int = 1) -> dict[str, float]:
    """Timings (seconds, wall and CPU of this process) and sizes of one benchmark run. CPU time
    is the steadier number on a shared machine; wall time is what a build waits."""
    scale = SCALES[scale] if isinstance(scale, str) else scale
    config = load_stats_config()
    with duckdb.connect() as con:
        base = risk_base(con, scale, seed)
        base_rows = base.count("*").fetchone()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        results = risk_adjust(base, config)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    fits = results.drop_duplicates(["tender_area", "measure", "as_of_month"])
    return {
        "base_rows": base_rows,
        "result_rows": len(results),
        "fits": len(fits),
        "adjusted_fits": int((fits["adjustment_status"] == "adjusted").sum()),
        "mean_referrals_per_fit": float(fits["model_n"].mean()),
        "risk_adjust_wall_s": wall,
        "risk_adjust_cpu_s": cpu,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=list(SCALES), default="city")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for name, value in run(args.scale, args.seed).items():
        print(f"{name:>24}: {value:,.2f}" if isinstance(value, float) else f"{name:>24}: {value:,}")


if __name__ == "__main__":
    main()
