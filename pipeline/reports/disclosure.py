"""Disclosure control (diskretionering) for everything that leaves the warehouse (outputs.md).

Three rules, applied here once so that a table, a chart, a workbook and a dashboard can never
disagree about what is shown:
- no person-level rows: the reports only ever receive counts per provider, area and month;
- a count below `min_count` (5) reads "<5", and a rate, interval or mean computed from a count
  that small is not shown at all: 20 % of 15 would give the 3 away as surely as the number;
- a provider's dashboard names only that provider; the others are "Leverandør A, B, …" unless
  the administration chooses to name them.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping

import pandas as pd

from pipeline import danish
from pipeline.reports.config import Disclosure

# Columns of mart_provider_results computed from the provider's own counts (n, successes).
PROVIDER_DERIVED = (
    "rate",
    "rate_low",
    "rate_high",
    "value_mean",
    "value_median",
    "value_sum",
    "expected",
    "o_e",
    "o_e_low",
    "o_e_high",
    "risk_adjusted_rate",
    "risk_adjusted_rate_low",
    "risk_adjusted_rate_high",
    "z_score",
    "z_score_raw",
)
# Columns computed from the area's counts, and from the area without the provider.
AREA_DERIVED = ("area_rate", "area_value_mean", "area_value_sum")
AREA_EXCL_DERIVED = ("area_rate_excl_provider", "area_value_mean_excl_provider")


def count_text(count: float | int | None, rule: Disclosure) -> str:
    """A count as a reader sees it: "<5" when small, else with thousands dot ("1.234")."""
    if count is None or (isinstance(count, float) and math.isnan(count)):
        return danish.MISSING
    return rule.small_label if rule.is_small(count) else danish.format_int(count)


def small(counts: pd.Series, rule: Disclosure) -> pd.Series:
    """Element-wise rule.is_small over a column of counts (missing counts are not small)."""
    values = pd.to_numeric(counts, errors="coerce").astype(float)
    hidden = (values > 0) & (values < rule.min_count)
    if rule.suppress_zero:
        hidden |= values == 0
    return hidden.fillna(False).astype(bool)


def hidden_mask(n: pd.Series, successes: pd.Series | None, rule: Disclosure) -> pd.Series:
    """Rows whose rate must not be shown: a small denominator or a small numerator."""
    mask = small(n, rule)
    if successes is not None:
        mask |= small(successes, rule)
    return mask


def _blank(frame: pd.DataFrame, mask: pd.Series, columns: Iterable[str]) -> None:
    for column in columns:
        if column in frame.columns:
            frame[column] = frame[column].astype(float).mask(mask)


def protect_results(results: pd.DataFrame, rule: Disclosure) -> pd.DataFrame:
    """mart_provider_results rows with every number that would reveal a small count blanked.

    Adds `hidden` (the provider's own figures are blanked), `area_hidden` and
    `area_excl_hidden`. The counts themselves stay numeric, for charts that need positions;
    what a reader sees of them goes through count_text."""
    out = results.copy()
    out["hidden"] = hidden_mask(out["n"], out.get("successes"), rule)
    _blank(out, out["hidden"], PROVIDER_DERIVED)
    if "area_n" in out:
        out["area_hidden"] = hidden_mask(out["area_n"], out.get("area_successes"), rule)
        _blank(out, out["area_hidden"], AREA_DERIVED)
    if "area_n_excl_provider" in out:
        out["area_excl_hidden"] = hidden_mask(
            out["area_n_excl_provider"], out.get("area_successes_excl_provider"), rule
        )
        _blank(out, out["area_excl_hidden"], AREA_EXCL_DERIVED)
    out["area_excl_single"] = single_other(out)
    _blank(out, out["area_excl_single"], AREA_EXCL_DERIVED)
    return out


GROUP = ("as_of_month", "tender_area", "measure")


def single_other(results: pd.DataFrame) -> pd.Series:
    """Rows whose "area without the provider" is one single other provider (or none): in an
    area with two providers that figure is the other provider's own result, so it is never
    shown (outputs.md, "Disclosure between providers"). Providers are counted per as-of month,
    tender area and measure, those with referrals in the base (n > 0)."""
    if results.empty or not set(GROUP) <= set(results.columns):
        return pd.Series(False, index=results.index)
    has_base = pd.to_numeric(results["n"], errors="coerce").fillna(0) > 0
    in_group = has_base.groupby([results[c] for c in GROUP], dropna=False).transform("sum")
    others = in_group - has_base.astype(int)
    return (others <= 1).astype(bool)


def protect_counts(frame: pd.DataFrame, columns: Iterable[str], rule: Disclosure) -> pd.DataFrame:
    """Numeric count columns with small counts set to NaN: for charts, where a bar of 3 would
    show the 3 however it is labelled."""
    out = frame.copy()
    for column in columns:
        values = out[column].astype(float)
        out[column] = values.mask(small(values, rule))
    return out


def letters(count: int) -> list[str]:
    """A, B, …, Z, AA, AB, …: enough aliases for any number of providers."""
    out = []
    for i in range(count):
        label, k = "", i
        while True:
            label = string.ascii_uppercase[k % 26] + label
            k = k // 26 - 1
            if k < 0:
                break
        out.append(label)
    return out


def provider_labels(
    providers: Mapping[str, str], own: str | None, anonymise: bool, prefix: str
) -> dict[str, str]:
    """The name each provider is shown with.

    providers: provider_id -> name, every provider of the month. With anonymise, every provider
    but `own` becomes "<prefix> A", "<prefix> B", … by its place in provider_id order among all
    of them, the reader included: a letter is then one provider in every dashboard of the month
    (and the next month's, while the providers are the same), whoever reads it. The reader's
    own letter is simply not used in its own dashboard."""
    if not anonymise:
        return {pid: name for pid, name in providers.items()}
    every = sorted(providers)
    labels = {pid: f"{prefix} {letter}" for pid, letter in zip(every, letters(len(every)), strict=True)}
    if own is not None and own in providers:
        labels[own] = providers[own]
    return labels


# Decision rows carry these counts; the reason sentence quotes them (reasons.yaml).
DECISION_COUNTS = ("n", "successes", "cohort_ongoing_at_stop", "cohort_closed", "cohort_with_result")
WITHHELD_REASON = (
    "{state}: tallene bag vurderingen vises ikke, fordi de bygger på færre end {min_count} forløb "
    "eller resultater."
)


NOT_SHOWN_OTHERS = "ikke vist, da området kun har én anden leverandør"


def reason_text(decision: Mapping[str, object], rule: Disclosure, single_other: bool = False) -> str:
    """The decision's Danish reason sentence, or a sentence without numbers when the one the
    decision step wrote quotes a count too small to show (e.g. "n = 3").

    With `single_other` (the area has one other provider), the sentence's figures about "the
    area without the provider" are the other provider's own result, and the hard model's bar is
    a fixed share of it: both are replaced by words (withhold_others)."""
    if any(rule.is_small(as_number(decision.get(c))) for c in DECISION_COUNTS):
        return WITHHELD_REASON.format(state=decision.get("state_label") or "", min_count=rule.min_count)
    text = str(decision.get("reason") or danish.MISSING)
    return withhold_others(text, decision) if single_other else text


def withhold_others(text: str, decision: Mapping[str, object]) -> str:
    """The reason sentence without the comparator (the area's rate without the provider), the
    threshold derived from it and the funnel z-score against it, in the places
    decisions/reasons.yaml puts them."""
    comparator = as_number(decision.get("area_rate_excl_provider"))
    threshold = as_number(decision.get("threshold"))
    z = as_number(decision.get("z_score"))
    if z is not None:  # the z-score against the area, with n and the rate, gives the other's rate
        text = text.replace(f"z = {danish.format_number(z, 2)}:", f"z {NOT_SHOWN_OTHERS}:")
    if comparator is not None:
        shown = danish.format_percent(comparator)
        text = text.replace(
            f"områdets {shown} uden leverandøren", f"området uden leverandøren ({NOT_SHOWN_OTHERS})"
        )
        text = text.replace(f"uden leverandøren {shown}", f"uden leverandøren {NOT_SHOWN_OTHERS}")
    if threshold is not None:
        shown = danish.format_percent(threshold)
        text = text.replace(f"grænse {shown}", "grænse ikke vist").replace(
            f"mindst {shown}", "mindst grænsen"
        )
    return text


def as_number(value: object) -> float | None:
    """A cell as a float, None for missing (None, NaN, NA) or non-numbers."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
