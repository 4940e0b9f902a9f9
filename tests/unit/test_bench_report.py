"""The benchmark's table: medians, ratios and verdicts against bench/targets.yaml, and the build
profile a missed target asks for. Built from hand-made measurements, so every number below is
known independently of the code that renders it."""

from __future__ import annotations

import statistics

from bench.config import load_config
from bench.measure import Measurement
from bench.report import rows_of, to_markdown
from bench.stages import StageResult

INFO = {"date": "2026-12-04", "cores": 2, "cpu": "test", "memory_gb": 24, "python": "3.11",
        "duckdb": "1.5", "pandas": "3.1"}  # fmt: skip


def _runs(seconds: list[float], peak_mb: float = 100.0, load: float = 0.5) -> list[Measurement]:
    return [Measurement("x", s, peak_mb, 0, load, load) for s in seconds]


def _results(build_seconds: list[float], load: float = 0.5) -> list[StageResult]:
    build = StageResult("national", "build", _runs(build_seconds, peak_mb=9000, load=load))
    build.extra.update(
        risk_model_seconds=[70.0] * len(build_seconds),
        slowest_models=[
            ("int_benefit_weeks_grouped_to_spells", 88.2),
            ("int_provider_results_risk_adjusted", 74.9),
        ],
        dbt_node_seconds=333.6,
    )
    return [StageResult("national", "floor", _runs([12.0, 11.0, 13.0], load=load)), build]


def _row(rows: list, name: str):  # type: ignore[no-untyped-def]
    return next(r for r in rows if r.name == name)


def test_build_median_ratio_and_verdicts_follow_the_targets() -> None:
    config = load_config()
    rows = rows_of(_results([240.0, 250.0, 230.0]), config)

    build = _row(rows, "build")
    assert build.median_s == statistics.median([240.0, 250.0, 230.0])
    # national build target: at most 600 s and 8000 MB; 9000 MB of peak memory misses it
    assert build.verdict.startswith("MISSED")
    ratio = _row(rows, "build ÷ floor")
    assert ratio.ratio == 240.0 / 12.0
    assert ratio.verdict.startswith("MISSED")
    assert _row(rows, "risk adjustment").verdict == "met"


def test_a_build_within_ten_floors_meets_the_ratio_target() -> None:
    rows = rows_of(_results([100.0]), load_config())
    assert _row(rows, "build ÷ floor").verdict == "met"


def test_markdown_shows_the_build_profile_and_how_shared_the_machine_was() -> None:
    results = _results([240.0])
    quiet = to_markdown(rows_of(results, load_config()), results, INFO)
    assert "| int_benefit_weeks_grouped_to_spells | 88.2 |" in quiet
    assert "all nodes together 333.6 s" in quiet
    assert "otherwise quiet" in quiet

    busy_results = _results([240.0], load=6.0)
    busy = to_markdown(rows_of(busy_results, load_config()), busy_results, INFO)
    assert "other jobs shared the machine" in busy
