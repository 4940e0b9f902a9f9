"""Data quality (issue 4): Great Expectations suites over the landing tables and the marts.

`validate(settings)` runs before the build (`provmon validate`, and `provmon run` between
ingest and build); `validate_marts(settings)` after it. A `critical` breach raises
CriticalQualityError, naming the table, the check and the numbers; a `warning` is reported
and the run goes on. Results go to meta.quality_results per run; the data-quality page, in
Danish and readable offline, to <out_dir>/quality/index.html (page.py).

How it scales (GX 1.24 has no DuckDB data source, and its SQL path through duckdb-engine
returns empty results): Great Expectations never sees landing rows. DuckDB reduces each
delivery to a profile of counts and bounds (pipeline/quality/profile.py) that decides each
check exactly as the rows would - a value set is in the vocabulary iff each distinct value is,
a key is unique iff rows = distinct keys, every date is in bounds iff min and max are - and
GX judges small pandas frames of those profiles with the committed suites. A delivery's
profile is computed once and cached in meta.quality_profiles (landing is append-only), so a
monthly run profiles only the new deliveries; judging, with the current suites, covers all.

The suites are files in expectations/ (a GX file context), generated from the input contract
and quality.yaml by `python -m pipeline.quality write-suites`; validation refuses to run on
suites that no longer match them. Telemetry is off (GX_ANALYTICS_ENABLED=false)."""

import os
from importlib import import_module
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

# The public names, imported on first use: Great Expectations takes seconds to import, and the
# configuration or the frames should not pay for it.
_PUBLIC = {
    "CheckResult": "pipeline.quality.results",
    "CriticalQualityError": "pipeline.quality.results",
    "QualitySummary": "pipeline.quality.results",
    "validate": "pipeline.quality.validation",
    "validate_marts": "pipeline.quality.validation",
    "write_suites": "pipeline.quality.gx_context",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
