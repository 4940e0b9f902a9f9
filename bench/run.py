"""The benchmark: time and peak memory of each stage of the monthly job, as whole processes.

    python bench/run.py --scales city national --stages generate ingest --runs 3

Generated data is cached in bench/cache/<scale>/ (git-ignored) and reused; each measured run of a
stage that writes the warehouse starts from a copy of the warehouse as the previous stage left it,
so runs are independent. Results go to bench/results/latest.{md,json}. Targets are stated in
bench/targets.yaml and compared in the table; this is never run by the test suite."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import Measurement, measure

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
RESULTS = ROOT / "bench" / "results"
TARGETS = yaml.safe_load((ROOT / "bench" / "targets.yaml").read_text())
PROVMON = [sys.executable, "-m", "pipeline.cli"]


@dataclass
class StageResult:
    scale: str
    stage: str
    runs: list[Measurement]

    @property
    def median_s(self) -> float:
        return statistics.median(m.seconds for m in self.runs)

    @property
    def spread_s(self) -> float:
        times = [m.seconds for m in self.runs]
        return max(times) - min(times)

    @property
    def peak_mb(self) -> float:
        return max(m.peak_rss_mb for m in self.runs)


def _dirs(scale: str) -> tuple[Path, Path]:
    return CACHE / scale / "raw", CACHE / scale / "warehouse.duckdb"


def _stage_argv(stage: str, scale: str, seed: int) -> list[str]:
    raw, wh = _dirs(scale)
    common = ["--warehouse", str(wh), "--raw-dir", str(raw)]
    if stage == "generate":
        return [*PROVMON, "generate", "--scale", scale, "--seed", str(seed), "--out", str(raw)]
    return [*PROVMON, stage, *common]


def _reset_warehouse(scale: str, snapshot: Path | None) -> None:
    _, wh = _dirs(scale)
    for f in (wh, wh.with_suffix(".duckdb.wal")):
        f.unlink(missing_ok=True)
    if snapshot and snapshot.exists():
        shutil.copy(snapshot, wh)


def run_stage(stage: str, scale: str, runs: int, seed: int, regenerate: bool) -> StageResult:
    raw, wh = _dirs(scale)
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if stage == "generate":
        if raw.exists() and not regenerate:
            print(f"  {scale} generate: cached in {raw} (use --regenerate to time it)")
            return StageResult(scale, stage, [])
        runs = 1  # generating national data three times is not worth the wait
    snapshot = wh.with_name(f"before-{stage}.duckdb")
    if stage != "generate":
        if wh.exists():
            shutil.copy(wh, snapshot)
        else:
            snapshot.unlink(missing_ok=True)
    measurements = []
    for i in range(runs):
        if stage == "generate":
            shutil.rmtree(raw, ignore_errors=True)
        else:
            _reset_warehouse(scale, snapshot)
        m = measure(_stage_argv(stage, scale, seed), cwd=ROOT, log=logs / f"{scale}-{stage}-{i}.log")
        status = "ok" if m.returncode == 0 else f"FAILED ({m.returncode}, see {logs})"
        print(f"  {scale} {stage} run {i + 1}: {m.seconds:.1f} s, peak {m.peak_rss_mb:.0f} MB, {status}")
        measurements.append(m)
    return StageResult(scale, stage, measurements)


def machine() -> dict[str, object]:
    return {
        "cores": psutil.cpu_count(logical=True),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def _target(scale: str, stage: str) -> str:
    t = TARGETS.get(scale, {}).get(stage)
    return "" if not t else " / ".join(f"{k} ≤ {v}" for k, v in t.items())


def to_markdown(results: list[StageResult], info: dict[str, object]) -> str:
    lines = [
        f"Measured {info['date']} on {info['cores']} cores, {info['memory_gb']} GB, Python {info['python']}.",
        "",
        "| scale | stage | runs | median s | spread s | peak RSS MB | target |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        if r.runs:
            lines.append(
                f"| {r.scale} | {r.stage} | {len(r.runs)} | {r.median_s:.1f} | {r.spread_s:.1f} "
                f"| {r.peak_mb:.0f} | {_target(r.scale, r.stage)} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=["city", "national"])
    parser.add_argument("--stages", nargs="+", default=["generate", "ingest"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    results = []
    for scale in args.scales:
        for stage in args.stages:
            results.append(run_stage(stage, scale, args.runs, args.seed, args.regenerate))
            if results[-1].runs and results[-1].runs[-1].returncode != 0:
                print(f"{scale} {stage} failed; stopping this scale")
                break
    info = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = to_markdown(results, info)
    (RESULTS / "latest.md").write_text(md)
    payload = {"machine": info, "results": [{**asdict(r), "median_s": r.median_s} for r in results if r.runs]}
    (RESULTS / "latest.json").write_text(json.dumps(payload, indent=2, default=str))
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
