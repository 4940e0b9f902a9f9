"""`provmon simulate`: every policy on every seed's world, summarised (decisions.md,
"Policy simulation (closed loop)")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline.decisions.reasons import load_templates
from pipeline.simulate.loop import PolicyRun, run_policy
from pipeline.simulate.measures import month_date
from pipeline.simulate.outputs import run_metrics, summarise, write_outputs
from pipeline.simulate.policies import policies as make_policies
from pipeline.simulate.world import SimWorld, build_world


@dataclass(frozen=True)
class SimulationSummary:
    out: Path
    table: pd.DataFrame
    runs: list[PolicyRun]
    paths: list[Path]

    def __str__(self) -> str:
        return f"simulated {len(self.runs)} policy runs; wrote {', '.join(str(p) for p in self.paths)}"


def planted_drops(sim: SimWorld) -> list[tuple[str, date]]:
    """Providers whose planted drop falls in the period, with its first month."""
    return [
        (sim.market.provider_ids[p], month_date(int(m)))
        for p, m in enumerate(sim.market.drop_month)
        if sim.months[0] <= m <= sim.months[-1]
    ]


def _series(run: PolicyRun) -> pd.DataFrame:
    pop = run.bookings[run.bookings["in_population"]]
    by = pop.groupby("month")["success"].mean().mul(100).rename("results_per_100").reset_index()
    return by.assign(policy=run.policy, seed=run.seed)


def simulate(
    scale: str = "small",
    seeds: int = 3,
    months: int | None = None,
    policy_names: list[str] | None = None,
    rules_file: Path | None = None,
    out: Path = Path("out/simulate"),
    on: date | None = None,
    progress: bool = True,
) -> SimulationSummary:
    """Run each policy on the worlds of seeds 1..seeds; write the summary to `out`."""
    chosen = make_policies(policy_names, rules_file)
    templates = load_templates()
    runs, metrics, series = [], [], []
    seed_list = list(range(1, seeds + 1))
    bar = None
    for seed in seed_list:
        sim = build_world(scale, seed, months)
        if bar is None:
            bar = tqdm(
                total=len(seed_list) * len(chosen) * len(sim.months),
                desc=f"simulate {scale}",
                unit=" months",
                disable=not progress,
            )
        drops = planted_drops(sim)
        for policy in chosen:
            bar.set_postfix_str(f"seed {seed} {policy.name}")
            run = run_policy(sim, policy, templates, progress=partial(bar.update, 1))
            runs.append(run)
            metrics.append({"policy": policy.name, "seed": seed, **run_metrics(run, drops)})
            series.append(_series(run))
    if bar is not None:
        bar.close()
    table = summarise(pd.DataFrame(metrics))
    chart = pd.concat(series).groupby(["policy", "month"], sort=False)["results_per_100"].mean().reset_index()
    n_months = len(sim.months)
    paths = write_outputs(Path(out), table, chart, seed_list, scale, n_months, on or date.today())
    return SimulationSummary(Path(out), table, runs, paths)
