"""The benchmark: how long the monthly run takes, stage by stage, and whether a plain pandas
script would do as well.

    python bench/run.py                                   # city and national, every stage
    python bench/run.py --scales city --stages build pandas --runs 1

Per scale: the deliveries are generated once into bench/cache/<scale>/ (git-ignored) and reused;
then, each as whole processes with wall time and peak memory of the process tree:
- floor: DuckDB reading every delivery once (bench/floor.py);
- ingest, validate, build, decide, report: the verbs of `provmon run`, each from the warehouse the
  stage before it left (the build's dbt node times give the risk step's share);
- run: `provmon run` on an empty warehouse, split into its steps by its progress lines;
- incremental: `provmon run` again after a full run on all but the newest month, adding that month;
- incremental-build: from that same state, the newest month's ingest, then its build incrementally
  and with --full-refresh (issue 19);
- build-fct: only the dbt models of fct_referral_outcomes (bench/build_fct.py), no tests or marts;
- pandas: the plain script (bench/pandas_outcomes.py), under a memory cap;
- risk-synthetic: pipeline/stats' own benchmark of the risk step;
- simulate: `provmon simulate`, the four policies on five seeds' worlds (issue 18).
Targets are in bench/targets.yaml. Results go to bench/results/latest.{md,json} (a stage measured
again replaces its earlier result, the others are kept) with logs in bench/results/logs/. A stage
that fails is reported with its error line and the benchmark goes on. Never run by the tests."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `pipeline` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import stages
from bench.config import BenchConfig, load_config
from bench.measure import NO_CAPS
from bench.report import machine, rows_of, to_json, to_markdown
from bench.stages import StageResult, Workspace

RESULTS = stages.ROOT / "bench" / "results"
STAGES = ("generate", "floor", "ingest", "validate", "build", "build-fct", "decide", "report", "run",
          "incremental", "incremental-build", "pandas", "risk-synthetic", "simulate")  # fmt: skip

# Stages that make their own data in memory: measured alone, they need no generated deliveries.
WITHOUT_DELIVERIES = {"risk-synthetic", "simulate"}


def _runner(
    stage: str, ws: Workspace, config: BenchConfig, runs: int | None
) -> Callable[[], list[StageResult]]:
    n = config.runs_of(ws.scale, stage, runs)
    caps = config.caps.get(stage)
    if stage in stages.VERB_STARTS_FROM:
        return lambda: [stages.verb(ws, stage, n)]
    return {
        "floor": lambda: [stages.floor(ws, n)],
        "build-fct": lambda: [stages.fct_only(ws, n)],
        "run": lambda: [stages.whole_run(ws, n)],
        "incremental": lambda: stages.incremental(ws, n),
        "incremental-build": lambda: stages.incremental_build(ws, n),
        "pandas": lambda: [stages.pandas(ws, n, caps.caps() if caps else NO_CAPS)],
        "risk-synthetic": lambda: [stages.risk_synthetic(ws, n)],
        "simulate": lambda: [stages.simulate(ws, n)],
    }[stage]


def run_scale(
    scale: str, selected: list[str], config: BenchConfig, args: argparse.Namespace
) -> list[StageResult]:
    """Every selected stage of one scale, in the benchmark's order."""
    ws = Workspace(scale)
    print(f"{scale}:", flush=True)
    results: list[StageResult] = []
    if "generate" in selected or set(selected) - WITHOUT_DELIVERIES:
        generated = stages.generate(ws, config.seed, regenerate=args.regenerate)
        results = [generated] if "generate" in selected or not generated.note else []
        if generated.runs and not generated.ok:
            print(f"  {scale}: generating the data failed; going on with the next scale")
            return results
    for stage in (s for s in STAGES if s in selected and s != "generate"):
        for result in _runner(stage, ws, config, args.runs)():
            if not result.ok:
                print(f"  {scale} {result.stage}: {result.failure()}", flush=True)
            results.append(result)
    if not args.keep_snapshots:
        ws.drop_snapshots()
    return results


def merged(previous: Path, new: list[StageResult]) -> list[StageResult]:
    """The new results, plus earlier ones of stages not measured this time."""
    measured = {(r.scale, r.stage) for r in new}
    kept = []
    if previous.exists():
        for data in json.loads(previous.read_text(encoding="utf-8")).get("stages", []):
            if (data["scale"], data["stage"]) not in measured:
                kept.append(StageResult.from_json(data))
    order = {s: i for i, s in enumerate(STAGES)}
    everything = kept + new
    return sorted(everything, key=lambda r: (r.scale != "city", r.scale, order.get(r.stage.split()[0], 99)))


def write(results: list[StageResult], config: BenchConfig) -> str:
    info = machine()
    rows = rows_of(results, config)
    RESULTS.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(rows, results, info)
    (RESULTS / "latest.md").write_text(markdown, encoding="utf-8")
    payload = json.dumps(to_json(results, rows, info), indent=2, default=str)
    (RESULTS / "latest.json").write_text(payload, encoding="utf-8")
    return markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scales", nargs="+", default=["city", "national"], choices=["small", "city", "national"]
    )
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--runs", type=int, help="runs of every stage (default: targets.yaml)")
    parser.add_argument("--regenerate", action="store_true", help="generate the data again and time it")
    parser.add_argument("--keep-snapshots", action="store_true", help="keep each stage's warehouse copy")
    parser.add_argument(
        "--rewrite", action="store_true", help="measure nothing: write latest.md again from latest.json"
    )
    args = parser.parse_args(argv)
    config = load_config()
    if args.rewrite:  # after a change to targets.yaml or to the report's layout
        print(write(merged(RESULTS / "latest.json", []), config))
        return 0
    results: list[StageResult] = []
    for scale in args.scales:
        results += run_scale(scale, args.stages, config, args)
        markdown = write(merged(RESULTS / "latest.json", results), config)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
