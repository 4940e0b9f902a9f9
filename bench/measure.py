"""Time and peak memory of one whole process, the way a user would run it.

Peak memory is the largest resident set of the process tree (the command and every child it
starts, e.g. dbt threads or papermill kernels), sampled every 50 ms with psutil. The output is
kept in a log, each line stamped with the seconds since the start, and the lines that open a
step of `provmon run` ("[3/6] build …") split the time and the peak between its steps. A cap on
memory or time stops the process tree, so that a run that would exhaust the shared machine
becomes a result ("stopped at 10 GB") instead of an outage."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

SAMPLE_SECONDS = 0.05
# The line `provmon run` logs when a step starts (pipeline/run.py).
RUN_STEP = re.compile(r"^\[(\d+)/(\d+)\] (.+?) …$")


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    peak_rss_mb: float


@dataclass(frozen=True)
class Measurement:
    command: str
    seconds: float
    peak_rss_mb: float
    returncode: int
    load_before: float  # 1-minute load average when it started: how shared the machine was
    load_after: float
    stopped: str | None = None  # "memory cap 10240 MB" / "time cap 3600 s" when we stopped it
    steps: tuple[Step, ...] = field(default=())
    last_line: str = ""  # the final output line: the one-line summary, or the error
    # CPU seconds (user + system) of the process and the children it waited for: the steadier
    # number on a shared machine, where wall time depends on what else runs.
    cpu_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.stopped is None


@dataclass(frozen=True)
class Caps:
    memory_mb: float | None = None  # of the process tree
    seconds: float | None = None
    machine_free_mb: float | None = None  # stop before the shared machine has less than this left


NO_CAPS = Caps()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in _tree(proc):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _over(caps: Caps, rss: int, elapsed: float) -> str | None:
    """Which cap the process has reached, if any."""
    if caps.memory_mb and rss / 2**20 > caps.memory_mb:
        return f"memory cap {caps.memory_mb:.0f} MB"
    if caps.machine_free_mb and psutil.virtual_memory().available / 2**20 < caps.machine_free_mb:
        return f"machine's free memory floor ({caps.machine_free_mb:.0f} MB left, own {rss / 2**20:.0f} MB)"
    if caps.seconds and elapsed > caps.seconds:
        return f"time cap {caps.seconds:.0f} s"
    return None


def _stop(proc: psutil.Process) -> None:
    """Stop the tree this measurement started (children first), and nothing else."""
    for p in reversed(_tree(proc)):
        try:
            p.kill()
        except psutil.NoSuchProcess:
            continue


class _Output:
    """Reads the process's output on a thread: into the log, stamped, with step starts noted."""

    def __init__(self, stream: IO[str], log: Path | None, started: float) -> None:
        self.marks: list[tuple[float, str]] = []
        self.last_line = ""
        self._thread = threading.Thread(target=self._read, args=(stream, log, started), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str], log: Path | None, started: float) -> None:
        # line-buffered, so a long run's progress can be followed in its log
        sink = open(log, "w", encoding="utf-8", buffering=1) if log else None  # noqa: SIM115 - closed below
        try:
            for line in stream:
                elapsed = time.perf_counter() - started
                text = line.rstrip("\n")
                if sink:
                    sink.write(f"{elapsed:8.1f}  {text}\n")
                if text.strip():
                    self.last_line = text.strip()
                step = RUN_STEP.match(text.strip())
                if step:
                    self.marks.append((elapsed, step.group(3)))
        finally:
            if sink:
                sink.close()

    def join(self) -> None:
        self._thread.join(timeout=10)


def _steps(
    marks: list[tuple[float, str]], samples: list[tuple[float, int]], total: float
) -> tuple[Step, ...]:
    steps = []
    for i, (start, name) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else total
        peak = max((rss for t, rss in samples if start <= t <= end), default=0)
        steps.append(Step(name, end - start, peak / 2**20))
    return tuple(steps)


def measure(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    caps: Caps = NO_CAPS,
) -> Measurement:
    """Run argv to completion (or to a cap) and report wall time and peak RSS of its tree."""
    load_before = os.getloadavg()[0]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    output = _Output(proc.stdout, log, started)
    ps = psutil.Process(proc.pid)
    samples: list[tuple[float, int]] = []
    stopped = None
    while proc.poll() is None:
        elapsed, rss = time.perf_counter() - started, _tree_rss(ps)
        samples.append((elapsed, rss))
        stopped = _over(caps, rss, elapsed)
        if stopped:
            _stop(ps)
            proc.wait()
            break
        time.sleep(SAMPLE_SECONDS)
    seconds = time.perf_counter() - started
    output.join()
    peak = max((rss for _, rss in samples), default=0)
    return Measurement(
        command=" ".join(argv),
        seconds=seconds,
        peak_rss_mb=peak / 2**20,
        returncode=proc.returncode,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        stopped=stopped,
        steps=_steps(output.marks, samples, seconds),
        last_line=output.last_line,
        cpu_s=_children_cpu() - cpu_before,
    )
