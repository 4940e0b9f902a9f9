"""Time and peak memory of one whole process, the way a user would run it.

Peak memory is the largest resident set of the process tree (the command and every child it
starts, e.g. dbt threads or papermill kernels), sampled every 50 ms with psutil."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Measurement:
    command: str
    seconds: float
    peak_rss_mb: float
    returncode: int


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def measure(
    argv: list[str], *, cwd: Path, env: dict[str, str] | None = None, log: Path | None = None
) -> Measurement:
    """Run argv to completion and report wall time and peak RSS of its process tree."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
    )
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(ps))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if log:
        out.close()
    return Measurement(" ".join(argv), seconds, peak / 2**20, proc.returncode)
