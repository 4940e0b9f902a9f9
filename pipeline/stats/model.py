"""The case-mix model: a grouped binomial logistic regression over covariate patterns.

One fit per tender area × measure × as-of month, over all providers of the area and without a
provider term (metrics.md "Risk adjustment"). Referrals with the same banded covariates share a
pattern, and the binomial GLM over patterns with [successes, failures] as the response has the
same likelihood, hence the same coefficients, as the logistic regression over single referrals,
at a fraction of the rows: that is what keeps thousands of fits fast."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import statsmodels.api as sm
from numpy.typing import NDArray
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from pipeline.stats.config import ModelConfig

try:
    from threadpoolctl import ThreadpoolController
except ImportError:  # optional: see single_threaded_blas
    ThreadpoolController = None

# Status of a fit, recorded on every output row (the fallbacks are the "honest failure").
ADJUSTED = "adjusted"
TOO_FEW_EVENTS = "too_few_events"
SEPARATION = "separation"
SINGLE_PROVIDER = "single_provider"
FIT_FAILED = "fit_failed"
INTERCEPT = "intercept"
# Relative size below which a design column counts as a combination of the columns before it.
_ALIAS_TOLERANCE = 1e-9


class _ProcessBlasHold:
    """BLAS held to one thread while any caller in the process holds it, from whatever thread.

    BLAS's thread count is one setting of the whole process (OpenBLAS's pool is shared), and dbt
    runs two Python models at once in its threads (until fct_referral_expected read the risk
    adjustment's coefficients, both fitted). threadpoolctl's threadpool_limits does not serve
    that: it lets only one thread (the first to set a limit) change the count and silently
    ignores the others, and on exit it restores the count it found. So one model's fits ran with
    one BLAS thread or two depending on when the other's began and ended, and two threads add in
    another order: two builds of the same data differed in the last bit (issue 19). Here the
    first holder sets one thread and only the last to leave restores the count found, each
    through the library's own setter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._restore: list[tuple[Any, int]] = []

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0 and ThreadpoolController is not None:
                libraries = ThreadpoolController().select(user_api="blas").lib_controllers
                self._restore = [(library, library.num_threads) for library in libraries]
                for library, _ in self._restore:
                    _set_blas_threads(library, 1)
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0:
                    for library, count in self._restore:
                        _set_blas_threads(library, count)
                    self._restore = []


def _set_blas_threads(library: Any, count: int) -> None:
    """Set a BLAS library's thread count from this thread, whichever thread threadpoolctl last
    let control it (OpenBLAS: clear_controlling_thread, then its setter takes control), and
    leave no thread in control, so that threadpool_limits elsewhere works as before."""
    release = getattr(type(library), "clear_controlling_thread", None)
    if release is not None:
        release(force=True)
    library.set_num_threads(count)
    if release is not None:
        release(force=True)


_BLAS_HOLD = _ProcessBlasHold()


def single_threaded_blas() -> AbstractContextManager[None]:
    """Hold BLAS to one thread while thousands of small fits run: the matrices (about 1,000 × 35)
    are too small to gain from threads, on a busy machine the spinning threads made the city
    benchmark ten times slower (170 s instead of 16 s CPU), and one thread gives the same bits in
    every build. Process-wide and safe across threads (_ProcessBlasHold). Needs threadpoolctl;
    without it BLAS keeps its default (OPENBLAS_NUM_THREADS=1 in the environment does the same)."""
    return _BLAS_HOLD()


class _FullRankGLM(sm.GLM):
    """statsmodels' GLM for a design that build_design has made full rank: GLM.initialize runs an
    SVD only to count that rank, a third of the set-up time of a small fit, thousands of times."""

    def initialize(self) -> None:
        self.df_model = self.exog.shape[1] - 1
        self.wnobs = self.exog.shape[0]
        self.df_resid = self.wnobs - self.df_model - 1


@dataclass(frozen=True)
class Design:
    """Dummy-coded design over covariate patterns: an intercept, then one column per covariate
    level that is neither the covariate's reference level nor folded into it."""

    matrix: NDArray[np.float64]
    names: list[str]
    folded_levels: int = 0
    aliased_columns: int = 0


@dataclass(frozen=True)
class LogitFit:
    """Result of one fit. `fitted` holds the probability per pattern when status is `adjusted`."""

    status: str
    fitted: NDArray[np.float64] | None = None
    params: dict[str, float] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class PatternCounts:
    """The covariate patterns of one fit: for each covariate the level code of every pattern
    (indices into that covariate's level names), and n and successes per pattern."""

    covariates: Sequence[str]
    codes: Sequence[NDArray[np.intp]]
    labels: Sequence[Sequence[str]]
    n: NDArray[np.float64]
    successes: NDArray[np.float64]


def build_design(patterns: PatternCounts, min_level_events: int) -> Design:
    """The design matrix of a fit from the integer level codes of each covariate per pattern.

    A level with fewer than `min_level_events` events or non-events is folded into the
    reference level (the covariate's most frequent kept level): a rare code that happens to have
    only failures would otherwise separate the model and cost the whole area its adjustment.
    Columns that are linear combinations of earlier ones (e.g. an offer that only ever has one
    purpose) are dropped, so the model stays identifiable."""
    names, folded = [INTERCEPT], 0
    column_of = []  # per covariate: the design column of each level code, -1 for none
    n, successes = patterns.n, patterns.successes
    for code, level_names, covariate in zip(
        patterns.codes, patterns.labels, patterns.covariates, strict=True
    ):
        level_n = np.bincount(code, weights=n, minlength=len(level_names))
        level_s = np.bincount(code, weights=successes, minlength=len(level_names))
        present = level_n > 0
        kept = present & (level_s >= min_level_events) & (level_n - level_s >= min_level_events)
        folded += int((present & ~kept).sum())
        if kept.any():
            kept[int(np.argmax(np.where(kept, level_n, -1.0)))] = False  # the reference level
        columns = np.full(len(level_names), -1)
        columns[kept] = np.arange(len(names), len(names) + int(kept.sum()))
        column_of.append(columns[code])
        names += [f"{covariate}={level_names[c]}" for c in np.flatnonzero(kept)]
    matrix = np.zeros((len(n), len(names)))
    matrix[:, 0] = 1.0
    for columns in column_of:
        rows = np.flatnonzero(columns >= 0)
        matrix[rows, columns[rows]] = 1.0
    keep = independent_columns(matrix, n)
    return Design(matrix[:, keep], [names[i] for i in keep], folded, len(names) - len(keep))


def design_within_budget(patterns: PatternCounts, config: ModelConfig) -> Design:
    """The design with as many covariate levels as the data can carry: while there are fewer
    than `min_events_per_parameter` events (or non-events, whichever is fewer) per parameter,
    the bar a level must pass for its own coefficient is raised (doubled), folding the rarest
    levels first. A small area thus gets a coarser adjustment instead of none; when not even
    one level passes, only the intercept is left and the caller falls back."""
    fewer = min(patterns.successes.sum(), (patterns.n - patterns.successes).sum())
    threshold = config.min_level_events
    while True:
        design = build_design(patterns, threshold)
        if fewer >= config.min_events_per_parameter * len(design.names) or len(design.names) == 1:
            return design
        threshold = max(2 * threshold, threshold + 1)


def independent_columns(matrix: NDArray[np.float64], weights: NDArray[np.float64]) -> list[int]:
    """Indices of the columns that are not linear combinations of the columns before them,
    found by a Cholesky decomposition of the weighted Gram matrix in column order, so the
    intercept and the first covariates win over later ones."""
    gram = matrix.T @ (matrix * weights[:, None])
    size = gram.shape[0]
    try:  # the usual case, full rank, at the price of one Cholesky
        diagonal = np.diag(np.linalg.cholesky(gram)) ** 2
        if np.all(diagonal > _ALIAS_TOLERANCE * np.maximum(np.diag(gram), 1.0)):
            return list(range(size))
    except np.linalg.LinAlgError:
        pass
    lower = np.zeros_like(gram)
    kept: list[int] = []
    for j in range(size):
        row = lower[j, kept]
        pivot = gram[j, j] - row @ row
        if pivot <= _ALIAS_TOLERANCE * max(gram[j, j], 1.0):
            continue
        lower[j, j] = np.sqrt(pivot)
        rest = np.arange(j + 1, size)
        lower[rest, j] = (gram[rest, j] - lower[np.ix_(rest, kept)] @ row) / lower[j, j]
        kept.append(j)
    return kept


def fit_grouped_logit(
    design: Design,
    n: NDArray[np.float64],
    successes: NDArray[np.float64],
    config: ModelConfig,
    start: Mapping[str, float] | None = None,
) -> LogitFit:
    """Fit the binomial GLM (logit link) with statsmodels over patterns, endog [successes, failures].

    Newton's method from `start` (the previous month's coefficients by name: the rolling base
    changes by a twelfth, so it converges in two or three steps) or from the area rate. Perfect
    or quasi-perfect prediction is detected, not passed on: statsmodels' separation warning, a
    coefficient beyond `max_abs_coefficient` or a pattern fitted at probability 0 or 1 give
    status `separation`; an error or no convergence gives `fit_failed`."""
    start_params = _start_params(design.names, n, successes, start)
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="ignore"):
        warnings.simplefilter("always")
        try:
            model = _FullRankGLM(
                np.column_stack([successes, n - successes]), design.matrix, family=sm.families.Binomial()
            )
            result = model.fit(
                method="newton",
                start_params=start_params,
                maxiter=config.max_iterations,
                disp=False,
                optim_hessian="eim",  # = the observed information for the canonical logit link
            )
            params = np.asarray(result.params, dtype=float)
            fitted = np.asarray(result.mu, dtype=float)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            return LogitFit(FIT_FAILED, message=f"statsmodels failed: {exc}")
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(fitted))):
        return LogitFit(FIT_FAILED, message="non-finite coefficients")
    problem = _separation(params, fitted, caught, config)
    if problem:
        return LogitFit(SEPARATION, message=problem)
    if not result.mle_retvals.get("converged", False):
        return LogitFit(FIT_FAILED, message=f"no convergence in {config.max_iterations} iterations")
    return LogitFit(ADJUSTED, fitted, dict(zip(design.names, params.tolist(), strict=True)))


def _start_params(
    names: list[str],
    n: NDArray[np.float64],
    successes: NDArray[np.float64],
    start: Mapping[str, float] | None,
) -> NDArray[np.float64]:
    rate = successes.sum() / n.sum()
    cold = {INTERCEPT: float(np.log(rate / (1 - rate)))} if 0 < rate < 1 else {}
    start = start or cold
    return np.array([start.get(name, cold.get(name, 0.0)) for name in names])


def _separation(
    params: NDArray[np.float64],
    fitted: NDArray[np.float64],
    caught: list[warnings.WarningMessage],
    config: ModelConfig,
) -> str:
    """Why the fit shows perfect prediction, or '' when it does not."""
    limits = config.separation
    if any(issubclass(w.category, PerfectSeparationWarning) for w in caught):
        return "statsmodels reports perfect separation"
    largest = float(np.max(np.abs(params)))
    if largest > limits.max_abs_coefficient:
        return f"a coefficient of {largest:.1f} on the logit scale (perfect prediction)"
    eps = limits.min_fitted_probability
    if fitted.min() < eps or fitted.max() > 1 - eps:
        return "a covariate pattern fitted at probability 0 or 1"
    return ""


def grouped_auc(successes: NDArray[np.float64], n: NDArray[np.float64], score: NDArray[np.float64]) -> float:
    """Area under the ROC curve from grouped data: the Mann-Whitney probability that a random
    success scores higher than a random failure, ties counted one half (Hanley & McNeil 1982).

    Referrals of one pattern share a score, so the count over patterns is exact, with no
    expansion to single referrals. NaN without both successes and failures."""
    failures = n - successes
    total_s, total_f = successes.sum(), failures.sum()
    if total_s <= 0 or total_f <= 0:
        return float("nan")
    _, tie_group = np.unique(score, return_inverse=True)
    group_s = np.bincount(tie_group, weights=successes)
    group_f = np.bincount(tie_group, weights=failures)
    failures_below = np.cumsum(group_f) - group_f
    return float((group_s * (failures_below + 0.5 * group_f)).sum() / (total_s * total_f))
