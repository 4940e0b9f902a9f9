"""The Great Expectations suites, generated from the input contract and quality.yaml.

Each suite judges one kind of frame (pipeline/quality/frames.py, marts.py). Every expectation
carries its severity (GX's own `severity`), a Danish description for the data-quality page, and in `meta`
the stable name of the check, the table it is about and the frame columns a message quotes.
Those are all the runtime needs to turn a GX result into a message: it reads the committed
suites, not this module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations.expectations as gxe

from pipeline.danish import format_number, format_percent
from pipeline.quality import frames as f
from pipeline.quality.config import Band, Mart, QualityConfig, Severity, load_config
from pipeline.quality.layout import BIRTH_DATE, LandingTable, landing_tables
from pipeline.quality.marts import MartFrames, max_col, min_col, not_pseudonym_col, null_col, pair_col

Frame = str  # "schema", "deliveries", "columns", "codes", "profile"


@dataclass(frozen=True)
class SuiteSpec:
    """A suite and what it judges: `table` is the warehouse table ("landing" when the frame's
    rows name their extract), `frame` the kind of frame, `index` the frame columns that name a
    row in a result (a delivery's load_id, a column)."""

    name: str
    table: str
    frame: Frame
    index: list[str]
    expectations: list[gxe.Expectation]


Rows = tuple[str, list[str]]  # (frame column, its values): the rows an expectation judges


def _expect(
    cls: type[gxe.Expectation],
    check: str,
    severity: Severity,
    description: str,
    context: tuple[str, ...] = (),
    rows: Rows | None = None,
    **kwargs: Any,
) -> gxe.Expectation:
    """An expectation with what a message needs in `meta`: the check's stable name, the frame
    columns quoted next to a judged value, and which rows it judges (as GX's row condition,
    a pandas query, and as data for reading the result)."""
    meta: dict[str, Any] = {"check": check, "context": list(context)}
    if rows is not None:
        column, values = rows[0], sorted(rows[1])
        condition = f"{column} in {values!r}" if len(values) > 1 else f"{column} == {values[0]!r}"
        kwargs.update(row_condition=condition, condition_parser="pandas")
        meta["rows"] = {"column": column, "values": values}
    return cls(severity=severity.value, description=description, meta=meta, **kwargs)


def _between(
    check: str,
    column: str,
    severity: Severity,
    description: str,
    context: tuple[str, ...] = (),
    rows: Rows | None = None,
    **bounds: Any,
) -> gxe.Expectation:
    return _expect(
        gxe.ExpectColumnValuesToBeBetween,
        check,
        severity,
        description,
        context,
        rows,
        column=column,
        **bounds,
    )


def _num(x: float) -> str:
    return format_number(x, 0 if float(x).is_integer() else 2)


def _pct(share: float) -> str:
    return format_percent(share, 1, trim=True)


def _band(
    check: str, column: str, band: Band, context: tuple[str, ...], describe: Any
) -> Iterator[gxe.Expectation]:
    """One expectation per severity that has a bound; `describe(low, high)` says it in Danish."""
    for severity in (Severity.CRITICAL, Severity.WARNING):
        low, high = band.limits(severity)
        if low is not None or high is not None:
            yield _between(
                check, column, severity, describe(low, high), context, min_value=low, max_value=high
            )


def _ratio_text(low: float | None, high: float | None) -> str:
    parts = []
    if low is not None:
        parts.append(f"mindst {format_number(low, 2)}")
    if high is not None:
        parts.append(f"højst {format_number(high, 2)}")
    return " og ".join(parts)


# --- landing ---------------------------------------------------------------------------------


def _keys_in(keys: list[str]) -> Rows:
    """The frame rows of these columns (`extract.column` keys)."""
    return ("column_key", keys)


def _grouped(items: dict[str, Any]) -> dict[Any, list[str]]:
    """Keys grouped by their (hashable) bound, so that one expectation covers a bound."""
    groups: dict[Any, list[str]] = {}
    for key, bound in items.items():
        groups.setdefault(bound, []).append(key)
    return groups


def _short(keys: list[str]) -> str:
    """Column keys for a Danish description; long lists are counted, the suite lists them."""
    return ", ".join(sorted(keys)) if len(keys) <= 6 else f"{len(keys)} kolonner"


def landing_schema_suite(tables: list[LandingTable], config: QualityConfig) -> SuiteSpec:
    """Every column of docs/warehouse.md present with its type; unknown columns reported."""
    columns = {f.column_key(t.name, name): sql_type for t in tables for name, sql_type in t.columns}
    keys = list(columns)
    expectations = [
        _expect(
            gxe.ExpectColumnDistinctValuesToContainSet,
            "schema.columns",
            config.landing.schema_,
            "Landingtabellerne har alle kolonner fra lageropbygningen (docs/warehouse.md).",
            column="column_key",
            value_set=keys,
        ),
        _expect(
            gxe.ExpectColumnValuesToBeInSet,
            "schema.types",
            config.landing.schema_,
            "Hver kolonne har sin type fra lageropbygningen.",
            rows=_keys_in(keys),
            column="key_type",
            value_set=[f.key_type(k, t) for k, t in columns.items()],
        ),
        _expect(
            gxe.ExpectColumnValuesToBeInSet,
            "schema.unexpected_columns",
            config.landing.unexpected_columns,
            "Landingtabellerne har ingen kolonner ud over lageropbygningens.",
            column="column_key",
            value_set=keys,
        ),
    ]
    return SuiteSpec("landing_schema", "landing", "schema", ["column_key"], expectations)


def landing_deliveries_suite(tables: list[LandingTable], config: QualityConfig) -> SuiteSpec:
    """Per delivery: load log, quarantine, volume, freshness, keys, end reasons, orphans."""
    expectations = [
        _expect(
            gxe.ExpectColumnDistinctValuesToContainSet,
            "has_deliveries",
            config.landing.has_deliveries,
            "Der er indlæst mindst én leverance af hvert udtræk.",
            column="extract",
            value_set=[t.name for t in tables],
        ),
        _expect(
            gxe.ExpectColumnPairValuesToBeEqual,
            "load_log",
            config.landing.load_log,
            "Rækkerne i landing svarer til de indlæste rækker i indlæsningsloggen (meta.loads).",
            column_A="rows",
            column_B="rows_logged",
        ),
        *_band(
            "quarantine_share",
            "quarantine_share",
            config.landing.quarantine_share,
            ("rows",),
            lambda _low, high: f"Højst {_pct(high)} af en leverances rækker er sat i karantæne.",
        ),
        *_volume_expectations(config),
        *_freshness_expectations(tables, config),
        _between(
            "keys_unique",
            "duplicate_key_rows",
            config.landing.keys_unique,
            "Ingen nøgle forekommer mere end én gang i samme leverance.",
            ("rows",),
            max_value=0,
        ),
        *_end_reason_expectations(config),
        _min_age_expectation(config),
        *_orphan_expectations(tables, config),
    ]
    return SuiteSpec("landing_deliveries", "landing", "deliveries", ["load_id"], expectations)


def _volume_expectations(config: QualityConfig) -> Iterator[gxe.Expectation]:
    volume = config.landing.volume
    context = ("rows", "previous_median")
    for which, band, label in (
        ("newest", volume.newest, "Den nyeste leverance"),
        ("earlier", volume.earlier, "En tidligere leverance"),
    ):
        yield from _band(
            f"volume.{which}",
            f"volume_ratio_{which}",
            band,
            context,
            lambda low, high, label=label: (
                f"{label} af et udtræk har {_ratio_text(low, high)} gange medianen af rækker i de "
                f"{volume.previous_deliveries} foregående leverancer "
                f"(når der er mindst {volume.min_previous})."
            ),
        )


def _freshness_expectations(tables: list[LandingTable], config: QualityConfig) -> Iterator[gxe.Expectation]:
    freshness = config.landing.freshness
    for days, extracts in _grouped({t.name: freshness.for_extract(t.name) for t in tables}).items():
        yield _between(
            "freshness",
            "days_since_delivery",
            freshness.severity,
            f"Den nyeste leverance af {', '.join(extracts)} er højst {days} dage gammel på referencedatoen.",
            ("delivery_date",),
            rows=("extract", extracts),
            max_value=days,
        )


def _end_reason_expectations(config: QualityConfig) -> Iterator[gxe.Expectation]:
    rule = config.landing.end_reason_missing
    ends = " eller ".join(rule.end_columns)
    yield from _band(
        "end_reason_missing",
        "end_reason_missing_share",
        rule,
        ("ended",),
        lambda _low, high: (
            f"Højst {_pct(high)} af de rækker i {rule.extract}, hvis slutdato ({ends}) ligger mere end "
            f"{rule.grace_days} dage før leverancedatoen, mangler {rule.reason_column}."
        ),
    )


def _min_age_expectation(config: QualityConfig) -> gxe.Expectation:
    young = config.landing.min_age
    return _between(
        "min_age",
        "under_min_age_rows",
        young.severity,
        f"Ingen henvisning i {young.extract} er af en borger under {young.min_years} år ved start "
        f"({young.date_column}); målgrupperne er over {young.min_years}.",
        ("rows",),
        rows=("extract", [young.extract]),
        max_value=0,
    )


def _orphan_expectations(tables: list[LandingTable], config: QualityConfig) -> Iterator[gxe.Expectation]:
    """Per reference column: a warning above warning_above, critical above critical_above on
    deliveries with at least critical_min_rows orphans (the critical column is empty below)."""
    band = config.landing.orphans
    for column in reference_columns(tables):
        parents = ", ".join(
            sorted({r.parent_extract for t in tables for r in t.references if r.column == column})
        )
        context = ("rows", f.orphan_count_col(column))
        if band.warning_above is not None:
            yield _between(
                f"orphans.{column}",
                f.orphan_col(column),
                Severity.WARNING,
                f"Højst {_pct(band.warning_above)} af en leverances rækker har en {column}, der ikke "
                f"findes i {parents}.",
                context,
                max_value=band.warning_above,
            )
        if band.critical_above is not None:
            yield _between(
                f"orphans.{column}",
                f.orphan_critical_col(column),
                Severity.CRITICAL,
                f"Højst {_pct(band.critical_above)} af en leverances rækker har en {column}, der ikke "
                f"findes i {parents} (vurderes fra {band.critical_min_rows} sådanne rækker).",
                context,
                max_value=band.critical_above,
            )


def reference_columns(tables: list[LandingTable]) -> list[str]:
    """The distinct reference columns of all tables (one orphan column each in the frame)."""
    return list(dict.fromkeys(r.column for t in tables for r in t.references))


def landing_columns_suite(tables: list[LandingTable], config: QualityConfig) -> SuiteSpec:
    """Per delivery and column: never empty when required, filled as before, dates and numbers in bounds."""
    required = [f.column_key(t.name, c) for t in tables for c in t.required]
    expectations = [
        _between(
            "not_null",
            "nulls",
            config.landing.required_not_null,
            f"De påkrævede kolonner ({_short(required)}) er aldrig tomme.",
            ("rows",),
            rows=_keys_in(required),
            max_value=0,
        ),
        *_band(
            "column_fill",
            "fill_ratio",
            config.landing.column_fill,
            ("fill_share", "fill_previous"),
            lambda low, high: (
                f"En valgfri kolonne er udfyldt i {_ratio_text(low, high)} gange så stor en andel af "
                "rækkerne som medianen i de foregående leverancer."
            ),
        ),
        *_date_expectations(tables, config),
        *_range_expectations(tables, config),
    ]
    return SuiteSpec("landing_columns", "landing", "columns", ["load_id", "column_key"], expectations)


def _date_expectations(tables: list[LandingTable], config: QualityConfig) -> Iterator[gxe.Expectation]:
    dates = config.landing.dates
    bounds = {f.column_key(t.name, c): dates.for_column(t.name, c) for t in tables for c in t.dates}
    earliest = {k: b[0].isoformat() for k, b in bounds.items() if not k.endswith(f".{BIRTH_DATE}")}
    for day, keys in _grouped(earliest).items():
        yield _between(
            "dates.earliest",
            "earliest",
            dates.severity,
            f"{_short(keys)} ligger ikke før {day}.",
            rows=_keys_in(keys),
            min_value=day,
        )
    for days, keys in _grouped({k: b[1] for k, b in bounds.items()}).items():
        yield _between(
            "dates.after_delivery",
            "days_after_delivery",
            dates.severity,
            f"{_short(keys)} ligger højst {days} dage efter leverancedatoen.",
            rows=_keys_in(keys),
            max_value=days,
        )
    yield _between(
        "dates.age",
        "oldest_age",
        dates.severity,
        f"Ingen person er ældre end {dates.max_age_years} år på leverancedatoen (alder fra CPR-nummeret).",
        max_value=dates.max_age_years,
    )


def _range_expectations(tables: list[LandingTable], config: QualityConfig) -> Iterator[gxe.Expectation]:
    severity = config.landing.ranges
    lows, highs = {}, {}
    for t in tables:
        for column in t.bounded_numbers:
            key = f.column_key(t.name, column.name)
            if column.min_exclusive is not None:
                lows[key] = (column.min_exclusive, True)
            elif column.min is not None:
                lows[key] = (column.min, False)
            if column.max is not None:
                highs[key] = column.max
    for (low, strict), keys in _grouped(lows).items():
        yield _between(
            "range.min",
            "minimum",
            severity,
            f"{_short(keys)} er {'over' if strict else 'mindst'} {_num(low)}.",
            rows=_keys_in(keys),
            min_value=low,
            strict_min=strict,
        )
    for high, keys in _grouped(highs).items():
        yield _between(
            "range.max",
            "maximum",
            severity,
            f"{_short(keys)} er højst {_num(high)}.",
            rows=_keys_in(keys),
            max_value=high,
        )


def landing_codes_suite(tables: list[LandingTable], config: QualityConfig) -> SuiteSpec:
    """Every code of every delivery in its column's vocabulary (the contract's codes)."""
    expectations = [
        _codes_expectation(f.column_key(t.name, column), codes, config.landing.codes)
        for t in tables
        for column, codes in t.codes.items()
    ]
    return SuiteSpec("landing_codes", "landing", "codes", ["load_id", "column_key", "value"], expectations)


def _codes_expectation(
    key: str, codes: list[str], severity: Severity, field: str = "column_key"
) -> gxe.Expectation:
    """Values of one code column in a long codes frame (field, value, rows)."""
    return _expect(
        gxe.ExpectColumnValuesToBeInSet,
        f"codes.{key}",
        severity,
        f"{key} har kun koderne {', '.join(codes)} (kontrakten).",
        ("rows",),
        rows=(field, [key]),
        column="value",
        value_set=codes,
    )


def landing_suites(config: QualityConfig) -> list[SuiteSpec]:
    tables = landing_tables()
    return [
        landing_schema_suite(tables, config),
        landing_deliveries_suite(tables, config),
        landing_columns_suite(tables, config),
        landing_codes_suite(tables, config),
    ]


# --- marts ---------------------------------------------------------------------------------


def mart_suites(name: str, mart: Mart) -> list[SuiteSpec]:
    """Schema (no person-level column, the checked columns present), profile and codes of a mart."""
    frames = MartFrames(name, mart)
    schema = [
        _expect(
            gxe.ExpectColumnValuesToNotBeInSet,
            "person_level_columns",
            mart.severity,
            f"Ingen kolonne på personniveau ({', '.join(mart.forbidden_columns)}).",
            column="column_name",
            value_set=mart.forbidden_columns,
        ),
        _expect(
            gxe.ExpectColumnDistinctValuesToContainSet,
            "schema.columns",
            mart.severity,
            f"Tabellen har kolonnerne {', '.join(frames.checked_columns)}.",
            column="column_name",
            value_set=frames.checked_columns,
        ),
    ]
    suites = [
        SuiteSpec(f"{name}_schema", name, "schema", ["column_name"], schema),
        SuiteSpec(f"{name}_profile", name, "profile", [], list(_mart_profile_expectations(frames))),
    ]
    codes = [_codes_expectation(c, frames.codes[c], mart.severity, "column_name") for c in frames.codes]
    if codes:
        suites.append(SuiteSpec(f"{name}_codes", name, "codes", ["column_name", "value"], codes))
    return suites


def _mart_profile_expectations(frames: MartFrames) -> Iterator[gxe.Expectation]:
    mart, severity = frames.mart, frames.mart.severity
    yield _between("has_rows", "rows", severity, "Tabellen har rækker.", min_value=1)
    yield _between(
        "keys_unique",
        "duplicate_key_rows",
        severity,
        f"Ingen nøgle ({', '.join(mart.key)}) forekommer mere end én gang.",
        ("rows",),
        max_value=0,
    )
    for column in mart.key:
        yield _between(
            f"not_null.{column}", null_col(column), severity, f"{column} er aldrig tom.", max_value=0
        )
    for column in mart.pseudonym_columns:
        yield _between(
            f"pseudonym.{column}",
            not_pseudonym_col(column),
            severity,
            f"{column} er altid et pseudonym (64 hextegn), aldrig et CPR-nummer.",
            max_value=0,
        )
    for column, (low, high) in frames.bounds.items():
        if low is not None:
            yield _between(
                f"range.{column}.min",
                min_col(column),
                severity,
                f"{column} er mindst {_num(round(low, 6))}.",
                min_value=low,
            )
        if high is not None:
            yield _between(
                f"range.{column}.max",
                max_col(column),
                severity,
                f"{column} er højst {_num(round(high, 6))}.",
                max_value=high,
            )
    for low_col, high_col in mart.not_above:
        yield _between(
            f"not_above.{low_col}.{high_col}",
            pair_col(low_col, high_col),
            severity,
            f"{low_col} er aldrig større end {high_col}.",
            max_value=0,
        )


def all_suites(config: QualityConfig | None = None) -> list[SuiteSpec]:
    """Every suite, in a stable order: the landing suites, then each mart's."""
    config = config or load_config()
    suites = landing_suites(config)
    for name, mart in config.marts.items():
        suites += mart_suites(name, mart)
    return suites
