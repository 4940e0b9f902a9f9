"""The benchmark's results as rows: measured stages, rows derived from them (generate + ingest,
the risk step's share of the build, the run without reports) and ratios (build ÷ floor, pandas ÷
build, incremental ÷ full run), each judged against its target; then as Markdown and JSON."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import psutil

from bench.config import BenchConfig
from bench.stages import StageResult, code_version

REPORT_STEP = "report"
# A 1-minute load above this share of the cores before a run: something else was running.
LOADED_SHARE = 1.5


@dataclass(frozen=True)
class Row:
    scale: str
    name: str
    runs: int
    median_s: float | None
    min_s: float | None
    max_s: float | None
    peak_mb: float | None
    cpu_s: float | None = None
    ratio: float | None = None
    target: str = ""
    verdict: str = ""
    note: str = ""


def machine() -> dict[str, object]:
    """What the numbers were measured on; the load shows how shared the machine was."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "cores": psutil.cpu_count(logical=True),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pandas": pd.__version__,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "commit": code_version(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _measured(r: StageResult, name: str | None = None, values: list[float] | None = None) -> Row:
    """A row of a measured stage; `values` replaces its run times for a row derived from them."""
    seconds = values if values is not None else r.seconds
    cpu = [m.cpu_s for m in r.runs if m.cpu_s is not None]
    cpu_s = statistics.median(cpu) if cpu and values is None else None
    median, low, high = statistics.median(seconds), min(seconds), max(seconds)
    return Row(r.scale, name or r.stage, len(seconds), median, low, high, r.peak_mb, cpu_s, note=r.note)


def _missing(scale: str, name: str, why: str) -> Row:
    return Row(scale, name, 0, None, None, None, None, note=why)


def stage_row(r: StageResult) -> Row:
    return _measured(r) if r.ok else _missing(r.scale, r.stage, r.failure())


def _without_report(r: StageResult) -> list[float]:
    """Each run's time up to the start of its report step."""
    return [m.seconds - sum(s.seconds for s in m.steps if s.name == REPORT_STEP) for m in r.runs]


def derived_rows(scale: str, by: dict[str, StageResult]) -> list[Row]:
    """Rows computed from measured stages: sums, the risk step, the run up to its reports."""
    rows = []
    gen, ing = by.get("generate"), by.get("ingest")
    if gen and ing and gen.ok and ing.ok:
        both = gen.median_s + ing.median_s
        rows.append(Row(scale, "generate + ingest", 1, both, both, both, max(gen.peak_mb, ing.peak_mb),
                        note="sum of the two medians"))  # fmt: skip
    build = by.get("build")
    if build and build.ok and build.extra.get("risk_model_seconds"):
        row = _measured(build, "risk adjustment", build.extra["risk_model_seconds"])  # type: ignore[arg-type]
        rows.append(
            Row(**{**asdict(row), "peak_mb": None, "note": "dbt time of the risk models in the build"})
        )
    run = by.get("run")
    if run and run.ok and any(m.steps for m in run.runs):
        peaks = [s.peak_rss_mb for m in run.runs for s in m.steps if s.name != REPORT_STEP]
        row = _measured(run, "run without reports", _without_report(run))
        rows.append(
            Row(
                **{
                    **asdict(row),
                    "peak_mb": max(peaks, default=None),
                    "note": "`provmon run` up to its report step",
                }
            )
        )
    return rows


def _incremental_month(r: StageResult | None) -> float | None:
    """The incremental `provmon run` up to its report step (ingest, validate, build, decide)."""
    return statistics.median(_without_report(r)) if r and r.ok and any(m.steps for m in r.runs) else None


def _ratio(scale: str, name: str, top: float | None, bottom: float | None, note: str = "") -> Row | None:
    if top is None or bottom is None or bottom <= 0:
        return None
    return Row(scale, name, 0, None, None, None, None, ratio=top / bottom, note=note)


def _plus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def ratio_rows(scale: str, by: dict[str, StageResult]) -> list[Row]:
    def median(stage: str) -> float | None:
        r = by.get(stage)
        return r.median_s if r and r.ok else None

    build, ingest, pandas = median("build"), median("ingest"), median("pandas")
    from_raw = "both from the raw files to the per-referral measures"
    rows = [
        _ratio(scale, "build ÷ floor", build, median("floor")),
        _ratio(scale, "pandas ÷ build", pandas, build),
        _ratio(scale, "pandas ÷ (ingest + build)", pandas, _plus(ingest, build), note=from_raw),
        _ratio(
            scale,
            "pandas ÷ (ingest + fct models)",
            pandas,
            _plus(ingest, median("build-fct")),
            note="the same work: only the per-referral measures",
        ),
        _ratio(scale, "incremental ÷ run", median("incremental"), median("run")),
        _ratio(scale, "ingest ÷ floor", ingest, median("floor")),
        _ratio(
            scale,
            "incremental ingest ÷ floor",
            median("incremental ingest"),
            median("floor"),
            note="the floor reads every delivery once, not only the new month's",
        ),
        _ratio(scale, "incremental build ÷ floor", median("incremental build"), median("floor")),
        _ratio(
            scale,
            "incremental full build ÷ floor",
            median("incremental full build"),
            median("floor"),
            note="--full-refresh on the same month",
        ),
        _ratio(
            scale,
            "pandas ÷ incremental month",
            pandas,
            _incremental_month(by.get("incremental")),
            note="pandas recomputes everything; the same deliveries",
        ),
    ]
    stopped = by.get("pandas")
    if stopped and stopped.runs and not stopped.ok:
        rows.append(_missing(scale, "pandas ÷ (ingest + build)", f"pandas {stopped.failure()}"))
    return [r for r in rows if r is not None]


def judged(row: Row, config: BenchConfig) -> Row:
    target = config.target(row.scale, row.name)
    if target is None:
        return row
    if row.median_s is None and row.ratio is None:
        return Row(**{**asdict(row), "target": str(target), "verdict": "not measured"})
    verdict = target.verdict(row.median_s, row.peak_mb, row.ratio)
    return Row(**{**asdict(row), "target": str(target), "verdict": verdict})


def rows_of(results: Iterable[StageResult], config: BenchConfig) -> list[Row]:
    by_scale: dict[str, dict[str, StageResult]] = {}
    for r in results:
        by_scale.setdefault(r.scale, {})[r.stage] = r
    rows = []
    for scale, by in by_scale.items():
        rows += [stage_row(r) for r in by.values()]
        rows += derived_rows(scale, by) + ratio_rows(scale, by)
    return [judged(r, config) for r in rows]


HEADER = ["scale", "stage", "runs", "median s", "min–max s", "CPU s", "peak RSS MB", "ratio", "target",
          "verdict", "note"]  # fmt: skip


def _table_line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def to_markdown(rows: list[Row], results: list[StageResult], info: dict[str, object]) -> str:
    dates = sorted({r.measured_on for r in results if r.runs})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}" if dates else info["date"]
    loads = [m.load_before for r in results for m in r.runs]
    load = f"{min(loads):.1f}–{max(loads):.1f}" if loads else "?"
    code = ", ".join(sorted({r.code for r in results if r.runs}))
    lines = [
        f"Measured {when} on {info['cores']} cores ({info['cpu']}), {info['memory_gb']} GB, "
        f"Python {info['python']}, DuckDB {info['duckdb']}, pandas {info['pandas']}. "
        f"Code: {code}. 1-minute load average {load} when the runs started "
        f"({info['cores']} cores){_load_remark(loads, info['cores'])}.",
        "",
        _table_line(HEADER),
        _table_line(["---", "---", *["---:"] * 6, "---", "---", "---"]),
    ]
    for r in rows:
        spread = "" if r.min_s is None else f"{r.min_s:.1f}–{r.max_s:.1f}"
        ratio = "" if r.ratio is None else f"{r.ratio:.1f}×"
        cells = [r.scale, r.name, str(r.runs or ""), _cell(r.median_s, ".1f"), spread, _cell(r.cpu_s, ".0f"),
                 _cell(r.peak_mb, ".0f"), ratio, r.target, r.verdict, r.note]  # fmt: skip
        lines.append(_table_line(cells))
    lines += _build_profile(results)
    return "\n".join(lines) + "\n"


def _build_profile(results: list[StageResult]) -> list[str]:
    """Where the build's time goes, per scale: the profile a missed build target asks for."""
    lines = []
    for r in results:
        models = r.extra.get("slowest_models") if r.stage == "build" and r.ok else None
        if not models:
            continue
        lines += [
            "",
            f"Slowest dbt models of the {r.scale} build (dbt's node seconds; dbt runs two models at "
            f"a time, all nodes together {r.extra.get('dbt_node_seconds', '?')} s):",
            "",
            _table_line(["model", "seconds"]),
            _table_line(["---", "---:"]),
            *(_table_line([name, f"{seconds:.1f}"]) for name, seconds in models),  # type: ignore[union-attr]
        ]
    return lines


def _load_remark(loads: list[float], cores: object) -> str:
    """A load above what the benchmark itself puts on the machine means others shared it."""
    if loads and isinstance(cores, int) and max(loads) > LOADED_SHARE * cores:
        return ": other jobs shared the machine, so some times are pessimistic"
    return ": the machine was otherwise quiet"


def to_json(results: list[StageResult], rows: list[Row], info: dict[str, object]) -> dict[str, object]:
    return {
        "machine": info,
        "rows": [asdict(r) for r in rows],
        "stages": [asdict(r) for r in results],
    }
