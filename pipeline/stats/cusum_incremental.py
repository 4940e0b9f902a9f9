"""The early-warning chart in the build, incrementally (issue 19): the CUSUM's thresholds h per
tender area × month are kept from the previous build where their window did not change.

h of a month is simulated from the expected probabilities of the referrals the area knew in the
`calibration_months` months up to it (pipeline/stats/cusum.py), by far the chart's costliest
part; a new month of deliveries adds a window and changes only the windows its referrals fall
in (a correction dated in the past changes the p of the referrals whose model it touches, and
so their windows). Each month's window gets a fingerprint (cusum.window_fingerprints: its
referrals in order, the parameters and the statistics' code); fct_cusum_thresholds stores it
beside h, and a build takes h from the previous build's table where the fingerprint is equal,
simulating the rest, so the thresholds are bit for bit those of a full build. The chart itself
(S referral by referral) is cheap and always recomputed, in fct_provider_cusum."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable

import duckdb
import pandas as pd

from pipeline.decisions.early_warning import chart_referrals
from pipeline.sql import ident
from pipeline.stats.cusum import (
    THRESHOLD_COLUMNS,
    CusumParams,
    KnownThresholds,
    Threshold,
    area_thresholds,
    chart_months,
    checked_referrals,
    window_fingerprints,
)
from pipeline.stats.incremental import previous_relation, statistics_digest

log = logging.getLogger(__name__)

THRESHOLDS_TABLE = "fct_cusum_thresholds"
WINDOW_FINGERPRINT = "window_fingerprint"
# fct_cusum_thresholds' columns: THRESHOLD_COLUMNS with the month as a date.
STORED_COLUMNS = [
    "as_of_month",
    "tender_area",
    "h",
    "false_signal_rate",
    "monthly_volume",
    WINDOW_FINGERPRINT,
]


def chart_input(
    dated: pd.DataFrame,
    expected: pd.DataFrame,
    results: pd.DataFrame,
    as_of_months: Iterable[dt.date],
    primary_measures: str,
) -> pd.DataFrame:
    """fct_cusum_referrals: the chart's referrals (early_warning.chart_referrals, known by the
    last as-of month's end) from int_referrals_primary_dated, fct_referral_expected and
    mart_provider_results (the area's rate on its primary measure); `primary_measures`: the
    var as JSON."""
    primary = {int(a): m for a, m in json.loads(primary_measures).items()}
    primary_rows = results[results["measure"] == results["tender_area"].astype(int).map(primary)]
    area_rates = primary_rows.groupby(["as_of_month", "tender_area"], as_index=False)["area_rate"].max()
    wanted = sorted(pd.Timestamp(m).date() for m in as_of_months)
    last = (pd.Timestamp(wanted[-1]) + pd.offsets.MonthEnd(0)).date() if wanted else dt.date.min
    return chart_referrals(dated, expected, area_rates, primary, last)


def thresholds_incrementally(
    con: duckdb.DuckDBPyConnection,
    referrals: pd.DataFrame,
    as_of_months: Iterable[dt.date],
    params: CusumParams,
    previous_schema: str | None,
) -> pd.DataFrame:
    """fct_cusum_thresholds: h of every tender area and month the chart runs over (STORED_COLUMNS),
    taken from the previous build where the window's fingerprint is unchanged."""
    frame = checked_referrals(referrals)
    _, months = chart_months(frame, as_of_months)
    if not months:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in STORED_COLUMNS})
    fingerprints = window_fingerprints(frame, months, params, statistics_digest(None))
    known = _known_thresholds(con, previous_schema, fingerprints)
    log.info(
        "CUSUM thresholds: %d of %d area months kept from %s", len(known), len(fingerprints), previous_schema
    )
    table = area_thresholds(frame, months, params, known, _configured_threads(con)).merge(
        fingerprints, on=["tender_area", "month"], how="left", validate="one_to_one"
    )
    table["as_of_month"] = [_month_date(m) for m in table["month"]]
    return table.rename(columns={"fingerprint": WINDOW_FINGERPRINT})[STORED_COLUMNS]


def _configured_threads(con: duckdb.DuckDBPyConnection) -> int:
    """The build's thread count (the profile's DuckDB `threads`): the areas simulated at once,
    so the model takes the cores the build was given and no more."""
    row = con.execute("select current_setting('threads')").fetchone()
    return max(1, int(row[0])) if row else 1


def stored_thresholds(table: pd.DataFrame) -> pd.DataFrame:
    """fct_cusum_thresholds' rows as cusum_by_month takes them (THRESHOLD_COLUMNS)."""
    month = pd.to_datetime(table["as_of_month"])
    return table.assign(month=(month.dt.year * 12 + month.dt.month - 1).astype(int))[THRESHOLD_COLUMNS]


def _known_thresholds(
    con: duckdb.DuckDBPyConnection, previous_schema: str | None, fingerprints: pd.DataFrame
) -> KnownThresholds:
    """The previous build's thresholds whose window fingerprint equals this build's (only those
    with an h: a month without one costs nothing to compute)."""
    previous = previous_relation(con, previous_schema, THRESHOLDS_TABLE, tuple(STORED_COLUMNS))
    if previous is None:
        return {}
    columns = ", ".join(map(ident, STORED_COLUMNS))
    stored = con.execute(f"select {columns} from {previous} where h is not null and not isnan(h)").df()
    state = stored_thresholds(stored).assign(fingerprint=stored[WINDOW_FINGERPRINT])
    current = {
        (area, int(month)): fingerprint
        for area, month, fingerprint in fingerprints[["tender_area", "month", "fingerprint"]].itertuples(
            index=False
        )
    }
    return {
        (row.tender_area, int(row.month)): Threshold(row.h, row.false_signal_rate, row.monthly_volume, 0)
        for row in state.itertuples(index=False)
        if current.get((row.tender_area, int(row.month))) == row.fingerprint
    }


def _month_date(index: int) -> dt.date:
    return dt.date(int(index) // 12, int(index) % 12 + 1, 1)
