"""Statistics for the fair comparison of providers (issue 5): risk adjustment by a grouped
logistic case-mix model, O/E with intervals, funnel-plot limits, overdispersion and evidence.

Typical use (e.g. in a dbt Python model)::

    results = risk_adjust(risk_base)            # one row per area x measure x month x provider
    curves = funnel_curves(results)             # funnel limits for drawing

where risk_adjust is, per tender area x measure, pattern_counts (DuckDB: band the covariates,
count n and successes per pattern) followed by compare_providers (the fits and the comparison).

Configuration: stats.yaml beside this module (load_stats_config)."""

from pipeline.stats.compare import (
    MODEL_STATUS_DA,
    OUTPUT_COLUMNS,
    OVERDISPERSION_DA,
    compare_providers,
    funnel_curves,
    output_columns,
    risk_adjust,
)
from pipeline.stats.config import StatsConfig, load_stats_config
from pipeline.stats.funnel import (
    classify_evidence,
    estimate_overdispersion,
    exact_binomial_limit,
    funnel_limits,
)
from pipeline.stats.intervals import oe_interval, wilson_interval
from pipeline.stats.model import (
    PatternCounts,
    build_design,
    design_within_budget,
    fit_grouped_logit,
    grouped_auc,
)
from pipeline.stats.patterns import StatsInputError, pattern_counts, pattern_sql

__all__ = [
    "MODEL_STATUS_DA",
    "OUTPUT_COLUMNS",
    "OVERDISPERSION_DA",
    "PatternCounts",
    "StatsConfig",
    "StatsInputError",
    "build_design",
    "classify_evidence",
    "compare_providers",
    "design_within_budget",
    "estimate_overdispersion",
    "exact_binomial_limit",
    "fit_grouped_logit",
    "funnel_curves",
    "funnel_limits",
    "grouped_auc",
    "load_stats_config",
    "oe_interval",
    "output_columns",
    "pattern_counts",
    "pattern_sql",
    "risk_adjust",
    "wilson_interval",
]
