"""The month's scorecard workbook (reports/<YYYY-MM>/scorecard.xlsx): one sheet per tender area
with every provider's measures, and one sheet of the booking decisions.

Numbers stay numbers (an analyst sorts and sums them; Excel shows them with the reader's
decimal comma), formatted as percent, whole numbers or kroner. Disclosure control is the same as
in the HTML reports, but a number column holds only numbers: a small count is an empty cell and
the row's flag column says "<5" for it, so a column sorts and sums; the rates, intervals and
means computed from it are left empty too.

Every text that comes from data (provider and area names, reasons, override notes) is written
as a string, never parsed: xlsxwriter's write() would turn "=HYPERLINK(…)" in a provider name
into a live formula and "http://…" into a link. The text format carries Excel's quote prefix,
so a cell keeps its text even when a user edits it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xlsxwriter

from pipeline import danish
from pipeline.decisions.rules import Model, Rules, model_names
from pipeline.files import atomic_path
from pipeline.reports.config import ReportConfig
from pipeline.reports.data import ReportData
from pipeline.reports.disclosure import as_number, protect_results, reason_text
from pipeline.reports.views import action_plan_text, assumed_threshold_text, measure_applies

# Excel forbids these in sheet names and allows 31 characters.
_SHEET_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


@dataclass(frozen=True)
class Column:
    header: str
    source: str  # column of the protected results, or a computed name
    # "text", "count" (disclosure-controlled), "integer", "percent", "number", "ratio", "kroner"
    kind: str
    width: int = 14


# The columns both workbooks show (this scorecard and the annual report's workbook): one header,
# kind and width each, so that the two never name or format the same column two ways.
TENDER_AREA = Column("Udbudsområde", "tender_area", "integer", 8)
PROVIDER_ID = Column("Leverandør-id", "provider_id", "text", 10)
PROVIDER_NAME = Column("Leverandør", "provider_name", "text", 28)
PROVIDER_KEY = (TENDER_AREA, PROVIDER_ID, PROVIDER_NAME)
AREA_RATE_EXCL_PROVIDER = Column("Områdets andel uden leverandøren", "area_rate_excl_provider", "percent", 18)
RISK_ADJUSTED_RATE = Column("Risikojusteret andel", "risk_adjusted_rate", "percent")
# a decision's model, proposed state and the state in force
BOOKING_STATE = (
    Column("Model", "model_name", "text", 18),
    Column("Forslag", "proposed_label", "text", 18),
    Column("Gældende tilstand", "state_label", "text", 18),
)

AREA_COLUMNS = (
    Column("Mål", "measure_label", "text", 44),
    Column("Leverandør", "provider_label", "text", 30),
    Column("Forløb i grundlaget", "n", "count"),
    Column("Med resultat", "successes", "count"),
    Column("Andel", "rate", "percent", 10),
    Column("95 %-interval, nedre", "rate_low", "percent"),
    Column("95 %-interval, øvre", "rate_high", "percent"),
    Column("Områdets andel", "area_rate", "percent"),
    AREA_RATE_EXCL_PROVIDER,
    RISK_ADJUSTED_RATE,
    Column("Risikojusteret, 95 %-interval, nedre", "risk_adjusted_rate_low", "percent"),
    Column("Risikojusteret, 95 %-interval, øvre", "risk_adjusted_rate_high", "percent"),
    Column("Gennemsnit", "value_mean", "number"),
    Column("Median", "value_median", "number"),
    Column("Områdets gennemsnit", "area_value_mean", "number"),
    Column("Under mindste antal", "below_min_n_text", "text", 12),
    Column("Skjult (under 5)", "suppressed_text", "text", 24),
)
# The flag column's name for each count column that is left empty when small.
COUNT_NAMES = {"n": "forløb", "successes": "resultater"}
DECISION_COLUMNS = (
    Column("Udbudsområde", "area_name", "text", 30),
    Column("Leverandør", "provider_label", "text", 30),
    *BOOKING_STATE,
    Column("Andel af fair fordeling", "share", "percent", 12),
    Column("Begrundelse", "reason_shown", "text", 90),
    Column("Ændret af mødet", "override_text", "text", 40),
    Column("Handlingsplan", "action_plan_text", "text", 24),
    Column("Henvisninger pr. måned (forslag)", "referrals_per_month", "integer", 14),
    Column("Regelversion", "rule_version", "text", 14),
)
# The models' one Danish name each (rules.yaml model_names).
MODEL_NAMES = {model.value: model_names().of(model) for model in Model}


def sheet_name(text: str) -> str:
    return " ".join(text.translate(_SHEET_FORBIDDEN).split())[:31].rstrip()


class _Formats:
    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.note = book.add_format({"italic": True, "font_color": "#444444"})
        self.header = book.add_format(
            {"bold": True, "bg_color": "#DCE6F0", "border": 1, "text_wrap": True, "valign": "top"}
        )
        self.text = book.add_format({"valign": "top", "text_wrap": True, "quote_prefix": True})
        self.count = book.add_format({"num_format": "#,##0", "align": "right", "valign": "top"})
        self.integer = book.add_format({"num_format": "#,##0", "valign": "top"})
        self.percent = book.add_format({"num_format": "0.0 %", "valign": "top"})
        self.number = book.add_format({"num_format": "#,##0.0", "valign": "top"})
        self.kroner = book.add_format({"num_format": '#,##0 "kr."', "valign": "top"})
        self.ratio = self.number  # observed/expected: a plain number

    def of(self, kind: str):
        return getattr(self, kind)


# What a table writer puts in one cell of a row: the value (None for an empty cell, a str for
# text, else a number) and the number format.
CellOf = Callable[[dict, Column], tuple[object, object]]


def write_table(
    sheet,
    formats: _Formats,
    top: int,
    frame: pd.DataFrame,
    columns: Sequence[Column],
    cell_of: CellOf,
    frozen: int,
) -> None:
    """A header and the rows, for both workbooks; `cell_of` decides what a cell holds (the
    scorecard and the annual workbook show a small count differently). Text is written with
    write_string, so a text that starts with "=" stays text and never becomes a formula; numbers
    with write_number; None as an empty cell."""
    for c, column in enumerate(columns):
        sheet.write_string(top, c, column.header, formats.header)
        sheet.set_column(c, c, column.width)
    for r, row in enumerate(frame.to_dict("records"), start=top + 1):
        for c, column in enumerate(columns):
            cell, fmt = cell_of(row, column)
            if cell is None:
                sheet.write_blank(r, c, None, fmt)
            elif isinstance(cell, str):
                sheet.write_string(r, c, cell, formats.text)
            else:
                # the marts store rates as float32: 0.6428571343 is 0.642857 to anyone reading it
                sheet.write_number(r, c, round(float(cell), 6), fmt)  # type: ignore[arg-type]
    sheet.freeze_panes(top + 1, frozen)
    sheet.autofilter(top, 0, top + max(len(frame), 1), len(columns) - 1)


def _cell_value(value: object, column: Column, is_small: bool) -> object:
    """What goes in a cell: None for a small count (the flag column says "<5"), a blanked or a
    missing number; text for a text column."""
    if column.kind == "count" and is_small:
        return None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if column.kind == "text":
        return str(value)
    return float(value)  # type: ignore[arg-type]


def _scorecard_cell(
    row: dict, column: Column, formats: _Formats, config: ReportConfig
) -> tuple[object, object]:
    """A scorecard cell: a small count is empty (its row's flag column says so); a mean is
    formatted as kroner or as a percent where the measure is a cost or an attendance rate."""
    value = row.get(column.source)
    small = column.kind == "count" and config.disclosure.is_small(value if value is None else float(value))
    fmt = formats.of(column.kind)
    if column.kind == "number":  # a mean of kroner, or of an attendance rate
        if row.get("measure") == config.measures.cost:
            fmt = formats.kroner
        elif row.get("measure") == config.measures.mentor_attendance:
            fmt = formats.percent
    return _cell_value(value, column, small), fmt


def _write_table(
    sheet, formats: _Formats, top: int, frame: pd.DataFrame, columns: Sequence[Column], config: ReportConfig
) -> None:
    def cell_of(row: dict, column: Column) -> tuple[object, object]:
        return _scorecard_cell(row, column, formats, config)

    write_table(sheet, formats, top, frame, columns, cell_of, frozen=2)


def area_frame(data: ReportData, area: int, rules: Rules, config: ReportConfig) -> pd.DataFrame:
    """The protected rows of one area in the report month, labelled, in measure order."""
    rows = data.results[
        (data.results["tender_area"] == area) & (data.results["as_of_month"] == pd.Timestamp(data.month))
    ]
    rows = protect_results(rows, config.disclosure)
    area_n = pd.to_numeric(rows["area_n"], errors="coerce").fillna(0)
    base = set(rows.loc[area_n > 0, "measure"])
    rows = rows[[m in base and measure_applies(config, m, area) for m in rows["measure"]]]
    order = data.measures.set_index("measure")["sort_order"]
    names = data.provider_names()
    rows = rows.assign(
        measure_label=[data.measure_label(m) for m in rows["measure"]],
        provider_label=[names.get(str(p), str(p)) for p in rows["provider_id"]],
        below_min_n_text=["ja" if b else "nej" for b in rows["below_min_n"]],
        suppressed_text=suppressed_flags(rows, config),
        _order=[order.get(m, 999) for m in rows["measure"]],
    )
    return rows.sort_values(["_order", "provider_label"]).reset_index(drop=True)


def suppressed_flags(rows: pd.DataFrame, config: ReportConfig) -> list[str]:
    """Per row, which counts are left empty because they are small: "forløb <5; resultater <5"."""
    rule = config.disclosure
    out = []
    for record in rows.to_dict("records"):
        hidden = [
            f"{name} {rule.small_label}"
            for column, name in COUNT_NAMES.items()
            if rule.is_small(as_number(record.get(column)))
        ]
        out.append("; ".join(hidden))
    return out


def _single_other(data: ReportData, rules: Rules, config: ReportConfig) -> set[tuple[str, int]]:
    """(provider, area) pairs of the month whose area without the provider is one provider."""
    rows = protect_results(
        data.results[data.results["as_of_month"] == pd.Timestamp(data.month)], config.disclosure
    )
    primary = [rules.area(int(a)).primary_measure for a in rows["tender_area"]]
    rows = rows[(rows["measure"] == pd.Series(primary, index=rows.index)) & rows["area_excl_single"]]
    return {(str(p), int(a)) for p, a in zip(rows["provider_id"], rows["tender_area"], strict=True)}


def decisions_frame(data: ReportData, rules: Rules, config: ReportConfig) -> pd.DataFrame:
    rows = data.decisions
    if rows.empty:
        return rows
    rows = rows[rows["month"] == pd.Timestamp(data.month)].copy()
    names = data.provider_names()
    allocation = data.allocation
    per_month = {}
    if not allocation.empty:
        per_month = {
            (str(r["provider_id"]), int(r["tender_area"]), str(r["model"])): r["referrals_per_month"]
            for _, r in allocation.iterrows()
        }
    rows["area_name"] = [f"{a} {rules.area(a).name}" for a in rows["tender_area"]]
    rows["provider_label"] = [names.get(str(p), str(p)) for p in rows["provider_id"]]
    rows["model_name"] = [MODEL_NAMES.get(str(m), str(m)) for m in rows["model"]]
    rows["proposed_label"] = [
        rules.area(a).label(Model(m), str(s))
        for a, m, s in zip(rows["tender_area"], rows["model"], rows["proposed_state"], strict=True)
    ]
    single = _single_other(data, rules, config)
    rows["reason_shown"] = [
        reason_text(r, config.disclosure, (str(r["provider_id"]), int(r["tender_area"])) in single)
        for r in rows.to_dict("records")
    ]
    rows["override_text"] = [
        f"{s}: {why}" if isinstance(s, str) and s else ""
        for s, why in zip(
            rows.get("override_state", [None] * len(rows)),
            rows.get("override_reason", [None] * len(rows)),
            strict=True,
        )
    ]
    rows["action_plan_text"] = [action_plan_text(r, rules) for r in rows.to_dict("records")]
    rows["referrals_per_month"] = [
        per_month.get((str(p), int(a), str(m)))
        for p, a, m in zip(rows["provider_id"], rows["tender_area"], rows["model"], strict=True)
    ]
    return rows.sort_values(["tender_area", "model", "provider_label"], ascending=[True, False, True])


def write_scorecard(data: ReportData, rules: Rules, config: ReportConfig, path: Path) -> Path:
    """Write the workbook (to a temporary name, then renamed); return its path."""
    month = danish.format_month(data.month)
    note = (
        f"Tal under {config.disclosure.min_count} er udeladt (tom celle, markeret "
        f"{config.disclosure.small_label} i kolonnen Skjult); andele, intervaller og gennemsnit "
        f"beregnet på dem er også udeladt. Grundlag: de seneste {data.parameters.rolling_months} måneder."
    )
    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(str(tmp))
        formats = _Formats(book)
        for area in data.areas():
            sheet = book.add_worksheet(sheet_name(f"Område {area} {rules.area(area).name}"))
            sheet.write_string(
                0, 0, f"Resultater {month}: udbudsområde {area}, {rules.area(area).name}", formats.title
            )
            sheet.write_string(1, 0, note, formats.note)
            _write_table(sheet, formats, 3, area_frame(data, area, rules, config), AREA_COLUMNS, config)
        sheet = book.add_worksheet("Beslutninger")
        sheet.write_string(0, 0, f"Bookingforslag {month}", formats.title)
        decisions = decisions_frame(data, rules, config)
        if decisions.empty:
            sheet.write_string(1, 0, "Ingen bookingforslag for måneden: kør provmon decide.", formats.note)
        else:
            assumed = assumed_threshold_text(rules, sorted(int(a) for a in decisions["tender_area"].unique()))
            note = f"Forslagene er pipelinens; opfølgningsmødet beslutter. {assumed}"
            sheet.write_string(1, 0, note, formats.note)
            _write_table(sheet, formats, 3, decisions, DECISION_COLUMNS, config)
        book.close()
    return path
