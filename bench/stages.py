"""The measured stages of the benchmark, each run as whole processes on one scale's workspace.

A scale's folder bench/cache/<scale>/ holds the generated deliveries (raw/, generated once and
reused), the same deliveries without the newest month (raw_before/, hard links), the working
warehouse (work/) and the state after each stage (snapshots/<stage>/). Every measured run of a
stage starts from the state the stage before it left, so that the three runs are alike and
independent; a stage whose predecessor failed is skipped and says so."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.measure import NO_CAPS, Caps, Measurement, Step, measure

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "cache"
PYTHON = sys.executable
PROVMON = [PYTHON, "-m", "pipeline.cli"]
# The stages of `provmon run`, in order, each measured as its own process, and the stages whose
# end state each may start from (the first one present).
VERB_STARTS_FROM = {
    "ingest": (),
    "validate": ("ingest",),
    "build": ("validate", "ingest"),
    "decide": ("build",),
    "report": ("decide", "build"),
}
_DELIVERY_DATE = re.compile(r"_(\d{8})\.[A-Za-z]+$")
_SLOWEST_NODES = 8
# dbt's log lines of a finished model and of any finished node, with its seconds.
_DBT_MODEL_LINE = re.compile(r"OK created [^\n]*? model \S+\.(\w+)\s[^\n]*\[OK in ([\d.]+)s\]")
_DBT_NODE_TIME = re.compile(r"\[(?:OK|PASS|WARN) in ([\d.]+)s\]")
SIMULATED_SCALES = ("small", "city")  # `provmon simulate --scale`


def code_version() -> str:
    """The code measured: the commit, and whether the working tree had changes on top of it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True)  # fmt: skip
    except OSError:
        return "?"
    return head.stdout.strip() + (" with uncommitted changes" if dirty.stdout.strip() else "")


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


@dataclass
class StageResult:
    scale: str
    stage: str
    runs: list[Measurement] = field(default_factory=list)
    note: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    measured_on: str = field(default_factory=today)
    code: str = field(default_factory=code_version)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> StageResult:
        """A result as to_json wrote it (so a later invocation can keep the other stages)."""
        runs = [
            Measurement(**{**m, "steps": tuple(Step(**s) for s in m.get("steps", ()))})  # type: ignore[arg-type]
            for m in data["runs"]  # type: ignore[union-attr]
        ]
        return cls(**{**data, "runs": runs})  # type: ignore[arg-type]

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(m.ok for m in self.runs)

    @property
    def seconds(self) -> list[float]:
        return [m.seconds for m in self.runs]

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_mb(self) -> float:
        return max(m.peak_rss_mb for m in self.runs)

    def failure(self) -> str:
        """Why the stage has no valid time, in a few words."""
        bad = next((m for m in self.runs if not m.ok), None)
        if bad is None:
            return self.note or "not run"
        if bad.stopped:
            return f"stopped at the {bad.stopped} after {bad.seconds:.0f} s"
        return f"failed (exit {bad.returncode}): {bad.last_line[:160]}"


class Workspace:
    """One scale's folder: deliveries, the working warehouse and the stage snapshots."""

    def __init__(self, scale: str, root: Path = CACHE) -> None:
        self.scale = scale
        self.root = root / scale
        self.raw = self.root / "raw"
        self.raw_before = self.root / "raw_before"
        self.work = self.root / "work"
        self.snapshots = self.root / "snapshots"
        self.logs = ROOT / "bench" / "results" / "logs"

    @property
    def warehouse(self) -> Path:
        return self.work / "warehouse.duckdb"

    def clear(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)

    def save(self, name: str) -> None:
        """The warehouse and its Parquet marts as the stage left them (reports are not state)."""
        target = self.snapshots / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.work, target, ignore=shutil.ignore_patterns("reports"))

    def has(self, name: str) -> bool:
        return (self.snapshots / name / self.warehouse.name).exists()

    def restore(self, name: str) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        shutil.copytree(self.snapshots / name, self.work)

    def drop_snapshots(self) -> None:
        shutil.rmtree(self.snapshots, ignore_errors=True)

    def provmon(self, verb: str, raw: Path | None = None) -> list[str]:
        return [*PROVMON, verb, "--warehouse", str(self.warehouse), "--raw-dir", str(raw or self.raw),
                "--out-dir", str(self.work / "reports")]  # fmt: skip

    def log(self, stage: str, run: int) -> Path:
        self.logs.mkdir(parents=True, exist_ok=True)
        return self.logs / f"{self.scale}-{stage.replace(' ', '_')}-{run + 1}.log"


def _announce(result: StageResult, m: Measurement, run: int) -> None:
    status = "ok" if m.ok else result.failure()
    print(f"  {result.scale} {result.stage} run {run + 1}: {m.seconds:.1f} s, peak {m.peak_rss_mb:.0f} MB, "
          f"load {m.load_before:.1f}, {status}", flush=True)  # fmt: skip


def repeat(
    ws: Workspace, stage: str, argv: list[str], runs: int, *, start: str | None = None, caps: Caps = NO_CAPS
) -> StageResult:
    """Run argv `runs` times, each from the snapshot `start` (None: an empty workspace); stop at
    the first failed run. Stages that build also report dbt's own node times."""
    result = StageResult(ws.scale, stage)
    for i in range(runs):
        if start:
            ws.restore(start)
        else:
            ws.clear()
        m = measure(argv, cwd=ROOT, log=ws.log(stage, i), caps=caps, env={"GX_ANALYTICS_ENABLED": "false"})
        result.runs.append(m)
        _announce(result, m, i)
        if not m.ok:
            break
        if stage in ("build", "run", "incremental", "incremental build", "incremental full build"):
            _add_dbt_times(result, ws.warehouse)
    return result


def _add_dbt_times(result: StageResult, warehouse: Path) -> None:
    """The risk step's share of the build and the slowest dbt nodes, from dbt's log, which the
    build keeps beside the warehouse (dbt's own target folder goes with the build's process).
    The risk step: the risk models and fct_referral_expected, which applies their coefficients."""
    log = warehouse.parent / "logs" / "dbt.log"
    if not log.exists():
        return
    text = log.read_text(encoding="utf-8", errors="replace")
    models = [(name, float(t)) for name, t in _DBT_MODEL_LINE.findall(text)]
    if not models:
        return
    risk = sum(t for name, t in models if "risk" in name or name == "fct_referral_expected")
    result.extra.setdefault("risk_model_seconds", []).append(risk)  # type: ignore[union-attr]
    slowest = sorted(models, key=lambda nt: -nt[1])[:_SLOWEST_NODES]
    result.extra["slowest_models"] = [(name, round(t, 1)) for name, t in slowest]
    result.extra["dbt_node_seconds"] = round(sum(float(t) for t in _DBT_NODE_TIME.findall(text)), 1)


def verb(ws: Workspace, stage: str, runs: int) -> StageResult:
    """ingest, validate, build, decide or report, from the state its predecessor left."""
    starts = VERB_STARTS_FROM[stage]
    start = next((s for s in starts if ws.has(s)), None)
    if starts and start is None:
        return StageResult(ws.scale, stage, note=f"skipped: needs a successful {starts[0]} first")
    result = repeat(ws, stage, ws.provmon(stage), runs, start=start)
    if result.ok:
        ws.save(stage)
    return result


def fct_only(ws: Workspace, runs: int) -> StageResult:
    """The models of fct_referral_outcomes alone (bench/build_fct.py), from the ingested warehouse."""
    start = next((s for s in VERB_STARTS_FROM["build"] if ws.has(s)), None)
    if start is None:
        return StageResult(ws.scale, "build-fct", note="skipped: needs a successful ingest first")
    argv = [PYTHON, str(ROOT / "bench" / "build_fct.py"), "--warehouse", str(ws.warehouse)]
    return repeat(ws, "build-fct", argv, runs, start=start)


def generate(ws: Workspace, seed: int, regenerate: bool) -> StageResult:
    """The deliveries, generated once and cached with the time it took."""
    record = ws.root / "generate.json"
    if ws.raw.exists() and not regenerate:
        result = StageResult(ws.scale, "generate", note="cached")
        if record.exists():
            saved = json.loads(record.read_text(encoding="utf-8"))
            result.measured_on = saved.pop("date", "?")
            result.runs.append(Measurement(**saved))
            result.note = f"cached, generated {result.measured_on}"
        return result
    shutil.rmtree(ws.raw, ignore_errors=True)
    shutil.rmtree(ws.raw_before, ignore_errors=True)
    argv = [*PROVMON, "generate", "--scale", ws.scale, "--seed", str(seed), "--out", str(ws.raw)]
    m = measure(argv, cwd=ROOT, log=ws.log("generate", 0))
    result = StageResult(ws.scale, "generate", [m])
    _announce(result, m, 0)
    if m.ok:
        record.write_text(json.dumps({**asdict(m), "date": today()}, indent=2), encoding="utf-8")
    return result


def prepare_month_before(ws: Workspace) -> str:
    """raw_before/: hard links to every delivery but those of the newest delivery date, which
    the incremental run then adds. Returns that date (YYYYMMDD)."""
    files = [p for p in ws.raw.rglob("*") if p.is_file()]
    dates = {m.group(1) for p in files if (m := _DELIVERY_DATE.search(p.name))}
    newest = max(dates)
    if not ws.raw_before.exists():
        for path in files:
            if not path.name.endswith(f"_{newest}{path.suffix}"):
                target = ws.raw_before / path.relative_to(ws.raw)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.hardlink_to(path)
    return newest


def whole_run(ws: Workspace, runs: int) -> StageResult:
    """`provmon run` on an empty warehouse: every delivery, every step, as a user runs it."""
    return repeat(ws, "run", ws.provmon("run"), runs)


def incremental(ws: Workspace, runs: int) -> list[StageResult]:
    """After a full run on all but the newest month, the run that adds that month."""
    newest = prepare_month_before(ws)
    before = repeat(ws, "run before the newest month", ws.provmon("run", ws.raw_before), 1)
    if not before.ok:
        after = StageResult(ws.scale, "incremental", note="skipped: the run before the newest month failed")
        return [before, after]
    ws.save("before_newest")
    after = repeat(ws, "incremental", ws.provmon("run"), runs, start="before_newest")
    after.note = f"adds the deliveries of {newest[:4]}-{newest[4:6]}-{newest[6:]}"
    return [before, after]


def incremental_build(ws: Workspace, runs: int) -> list[StageResult]:
    """The newest month's ingest, then its build incrementally and with --full-refresh, each
    from the same state: the warehouse a full run left on all but the newest month (the
    `incremental` stage's snapshot; made here if that stage has not run)."""
    newest = prepare_month_before(ws)
    results = []
    if not ws.has("before_newest"):
        before = repeat(ws, "run before the newest month", ws.provmon("run", ws.raw_before), 1)
        results.append(before)
        if not before.ok:
            return [
                *results,
                StageResult(ws.scale, "incremental build", note="skipped: the run before failed"),
            ]
        ws.save("before_newest")
    ingest = repeat(ws, "incremental ingest", ws.provmon("ingest"), runs, start="before_newest")
    results.append(ingest)
    if not ingest.ok:
        return results
    ws.save("newest_ingested")
    for stage, argv in (
        ("incremental build", ws.provmon("build")),
        ("incremental full build", [*ws.provmon("build"), "--full-refresh"]),
    ):
        result = repeat(ws, stage, argv, runs, start="newest_ingested")
        result.note = f"the deliveries of {newest[:4]}-{newest[4:6]}-{newest[6:]} added"
        results.append(result)
    return results


def floor(ws: Workspace, runs: int) -> StageResult:
    return repeat(ws, "floor", [PYTHON, str(ROOT / "bench" / "floor.py"), "--raw-dir", str(ws.raw)], runs)


def pandas(ws: Workspace, runs: int, caps: Caps) -> StageResult:
    argv = [PYTHON, str(ROOT / "bench" / "pandas_outcomes.py"), "--raw-dir", str(ws.raw)]
    return repeat(ws, "pandas", argv, runs, caps=caps)


def risk_synthetic(ws: Workspace, runs: int) -> StageResult:
    """pipeline/stats' own benchmark: risk_adjust on a simulated risk base of this scale."""
    argv = [PYTHON, "-m", "pipeline.stats.benchmark", "--scale", ws.scale]
    result = repeat(ws, "risk-synthetic", argv, runs)
    walls = []
    for i in range(len(result.runs)):
        found = re.search(
            r"risk_adjust_wall_s:\s*([\d,.]+)", ws.log(result.stage, i).read_text(encoding="utf-8")
        )
        if found:
            walls.append(float(found.group(1).replace(",", "")))
    result.extra["risk_adjust_wall_s"] = walls
    return result


def simulate(ws: Workspace, runs: int, seeds: int = 5) -> StageResult:
    """`provmon simulate` of this scale: the four policies on the worlds of seeds 1..`seeds`
    (issue 18). It needs no deliveries: each world comes from the generator in memory."""
    if ws.scale not in SIMULATED_SCALES:
        scales = ", ".join(SIMULATED_SCALES)
        return StageResult(ws.scale, "simulate", note=f"skipped: simulate runs at {scales}")
    argv = [*PROVMON, "simulate", "--scale", ws.scale, "--seeds", str(seeds),
            "--out", str(ws.work / "simulate")]  # fmt: skip
    result = repeat(ws, "simulate", argv, runs)
    result.note = f"{seeds} seeds, policies none, hard, soft, soft-no-ew"
    return result
