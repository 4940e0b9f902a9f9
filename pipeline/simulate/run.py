"""`provmon simulate`: every policy on every seed's world, summarised (decisions.md,
"Policy simulation (closed loop)")."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline.decisions.reasons import load_templates
from pipeline.generate.config import load_world
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


@dataclass(frozen=True)
class SeedResult:
    """Every policy's run on one seed's world, with its metrics and its monthly series."""

    runs: list[PolicyRun]
    metrics: list[dict[str, object]]
    series: list[pd.DataFrame]
    months: int


def simulate(
    scale: str = "small",
    seeds: int = 3,
    months: int | None = None,
    policy_names: list[str] | None = None,
    rules_file: Path | None = None,
    out: Path = Path("out/simulate"),
    on: date | None = None,
    progress: bool = True,
    jobs: int = 1,
) -> SimulationSummary:
    """Run each policy on the worlds of seeds 1..seeds; write the summary to `out`. `jobs`
    worlds are run at a time, each in its own process (the seeds are independent, so the
    result is the same for any `jobs`)."""
    chosen = make_policies(policy_names, rules_file)
    seed_list = list(range(1, seeds + 1))
    bar = tqdm(
        total=len(seed_list) * len(chosen) * period_months(scale, months),
        desc=f"simulate {scale}",
        unit=" months",
        disable=not progress,
    )
    with bar:
        if jobs > 1 and len(seed_list) > 1:
            done = _in_processes(scale, seed_list, months, policy_names, rules_file, jobs, bar)
        else:
            done = [
                run_seed(scale, seed, months, policy_names, rules_file, _ticker(bar)) for seed in seed_list
            ]
    table = summarise(pd.DataFrame([m for d in done for m in d.metrics]))
    series = [s for d in done for s in d.series]
    chart = pd.concat(series).groupby(["policy", "month"], sort=False)["results_per_100"].mean().reset_index()
    paths = write_outputs(Path(out), table, chart, seed_list, scale, done[-1].months, on or date.today())
    return SimulationSummary(Path(out), table, [r for d in done for r in d.runs], paths)


def period_months(scale: str, months: int | None) -> int:
    """The months a world of `scale` simulates (build_world's period)."""
    total = load_world().scale(scale).months
    return total if months is None else len(range(total)[: int(months)])


def run_seed(
    scale: str,
    seed: int,
    months: int | None,
    policy_names: list[str] | None,
    rules_file: Path | None,
    tick: Callable[[str], None],
) -> SeedResult:
    """Every policy on the world of `seed`; tick(label) after each policy-month."""
    chosen = make_policies(policy_names, rules_file)
    templates = load_templates()
    sim = build_world(scale, seed, months)
    drops = planted_drops(sim)
    runs, metrics, series = [], [], []
    for policy in chosen:
        run = run_policy(sim, policy, templates, progress=partial(tick, f"seed {seed} {policy.name}"))
        runs.append(run)
        metrics.append({"policy": policy.name, "seed": seed, **run_metrics(run, drops)})
        series.append(_series(run))
    return SeedResult(runs, metrics, series, len(sim.months))


def _ticker(bar: tqdm) -> Callable[[str], None]:
    def tick(label: str) -> None:
        bar.set_postfix_str(label, refresh=False)
        bar.update(1)

    return tick


def _in_processes(
    scale: str,
    seed_list: list[int],
    months: int | None,
    policy_names: list[str] | None,
    rules_file: Path | None,
    jobs: int,
    bar: tqdm,
) -> list[SeedResult]:
    """run_seed of every seed, `jobs` at a time in fresh processes (spawned: forking a process
    that holds DuckDB's and BLAS' threads is unsafe); their ticks come back through a queue."""
    context = multiprocessing.get_context("spawn")
    tick = _ticker(bar)
    with context.Manager() as manager, ProcessPoolExecutor(min(jobs, len(seed_list)), context) as pool:
        ticks = manager.Queue()
        futures = [
            pool.submit(run_seed, scale, seed, months, policy_names, rules_file, ticks.put)
            for seed in seed_list
        ]
        pending = set(futures)
        while True:
            finished = not pending
            while not ticks.empty():  # a worker's ticks are queued before its result is ready
                tick(ticks.get())
            if finished:
                return [f.result() for f in futures]
            _, pending = wait(pending, timeout=0.5)
