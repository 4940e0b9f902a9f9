"""`provmon report --year YYYY`: the annual experience report (erfaringsopsamling).

Since 2019 the committee has required one report per framework agreement and year, discussed
with each provider and at the annual director meeting. Per tender area and provider it shows the
year's result on every measure against the year before and the area (risk-adjusted, with
intervals), the booking states month by month with the meeting's overrides and their reasons,
and the year's volume and cost. It writes reports/<YYYY>/erfaringsopsamling-omraade-<n>.html
(one per tender area, every provider named: the administration's own document) and one workbook,
reports/<YYYY>/erfaringsopsamling-<YYYY>.xlsx.

"The year's result" is the mart row of the year's last as-of month: December, whose rolling
12-month base is the calendar year (the referrals whose measurement window ended in it). The
previous year is the same month a year earlier. Volume and cost are referrals started in the
calendar year, aggregated in DuckDB from fct_referral_outcomes: no person-level row is read
into Python. Everything reads the Parquet marts only, never the warehouse, and the disclosure
control of the monthly reports applies (disclosure.py): a count below 5 reads "<5" and what is
computed from it is not shown."""

from __future__ import annotations

import datetime as dt
import html
import json
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
import xlsxwriter

from pipeline import danish
from pipeline.decisions.rules import Model, Rules, load_rules
from pipeline.files import atomic_path, atomic_write_text
from pipeline.months import add_months
from pipeline.reports import charts, present
from pipeline.reports.config import Disclosure, ReportConfig, load_config
from pipeline.reports.data import (
    DECISIONS,
    MEASURES,
    PROVIDERS,
    RESULTS,
    ReportInputError,
    _months,
    _read,
    check_marts,
    mart_path,
)
from pipeline.reports.disclosure import as_number, count_text, protect_results, reason_text
from pipeline.reports.excel import (
    AREA_RATE_EXCL_PROVIDER,
    BOOKING_STATE,
    MODEL_NAMES,
    PROVIDER_KEY,
    RISK_ADJUSTED_RATE,
    Column,
    _Formats,
    sheet_name,
    write_table,
)
from pipeline.reports.index import ANNUAL_MANIFEST, write_index
from pipeline.reports.views import rate_text
from pipeline.settings import Settings

# Risk-adjusted interval bounds come from the provider's own counts like the rate itself; the
# shared list in disclosure.py (PROVIDER_DERIVED) does not name them, so they are blanked here.
EXTRA_DERIVED = ("risk_adjusted_rate_low", "risk_adjusted_rate_high")
MODELS = (Model.SOFT, Model.HARD)


class AnnualInputError(ReportInputError):
    """The year asked for is not in the marts (or not a year)."""


def area_file(area: int) -> str:
    return f"erfaringsopsamling-omraade-{area}.html"


def workbook_file(year: int) -> str:
    return f"erfaringsopsamling-{year}.xlsx"


# --- the data --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnualData:
    """One year's numbers, already aggregated and protected (see the module docstring)."""

    year: int
    month: pd.Timestamp  # the year's last as-of month in the marts (December when complete)
    previous: pd.Timestamp  # the same month a year earlier
    base_end: dt.date  # the last day of the year's base (as_of_date of `month`)
    results: pd.DataFrame  # protected mart rows of `month` and `previous`
    trend: pd.DataFrame  # protected mart rows of every month from January the year before
    measures: pd.DataFrame  # dim_measures
    names: dict[str, str]  # provider_id -> provider_name
    decisions: pd.DataFrame  # mart_booking_decisions of the year's months (may be empty)
    volume: pd.DataFrame  # provider x area x year: referrals started, cost_dkk

    @property
    def complete(self) -> bool:
        return self.month.month == 12

    def areas(self) -> list[int]:
        now = self.results[self.results["as_of_month"] == self.month]
        return sorted(int(a) for a in now["tender_area"].unique())

    def providers_in(self, area: int) -> list[str]:
        now = self.results[
            (self.results["as_of_month"] == self.month) & (self.results["tender_area"] == area)
        ]
        return sorted(str(p) for p in now["provider_id"].unique())

    def measure_order(self) -> list[str]:
        return list(self.measures.sort_values("sort_order")["measure"])

    def measure_label(self, measure: str) -> str:
        labels = self.measures.set_index("measure")["label_da"]
        return str(labels.get(measure, measure))

    def base_text(self) -> str:
        """Which base the year's results are, in the report's words."""
        first = add_months(self.month, -11)
        text = (
            f"Årets resultater er målt på grundlaget for {danish.format_month(self.month)}: de forløb, "
            f"hvis måleperiode sluttede i de 12 måneder {danish.format_month(first)}–"
            f"{danish.format_month(self.month)}. Året før er grundlaget for "
            f"{danish.format_month(self.previous)}."
        )
        if not self.complete:
            text += (
                f" Året er ikke afsluttet i data: seneste måned er {danish.format_month(self.month)}, "
                "så grundlaget er ikke kalenderåret."
            )
        return text


def load_annual_data(marts_dir: Path, year: int, config: ReportConfig) -> AnnualData:
    """The year's data from the marts in marts_dir; refuses a year the marts do not reach."""
    marts_dir = Path(marts_dir)
    check_marts(marts_dir)
    results = _months(_read(marts_dir, RESULTS), "as_of_month", "as_of_date")  # type: ignore[arg-type]
    months = results["as_of_month"]
    in_year = months[months.dt.year == year]
    if in_year.empty:
        raise AnnualInputError(
            f"no results for {year} in {marts_dir} (the marts cover {months.min():%Y-%m} to "
            f"{months.max():%Y-%m}); choose a year in that range or build for a later as-of date"
        )
    month = in_year.max()
    previous = month - pd.DateOffset(years=1)
    rule = config.disclosure
    chosen = results[results["as_of_month"].isin([month, previous])]
    trend = results[(results["as_of_month"] >= pd.Timestamp(year - 1, 1, 1)) & (months <= month)]
    base_end = pd.Timestamp(chosen.loc[chosen["as_of_month"] == month, "as_of_date"].max()).date()
    providers = _read(marts_dir, PROVIDERS)
    names = {
        str(k): str(v) if pd.notna(v) else str(k)
        for k, v in providers.set_index("provider_id")["provider_name"].items()  # type: ignore[union-attr]
    }
    return AnnualData(
        year=year,
        month=month,
        previous=previous,
        base_end=base_end,
        results=protect(chosen, rule),
        trend=protect(trend, rule),
        measures=_read(marts_dir, MEASURES),  # type: ignore[arg-type]
        names=names,
        decisions=year_decisions(marts_dir, year, month),
        volume=volume_and_cost(marts_dir, year),
    )


def protect(rows: pd.DataFrame, rule: Disclosure) -> pd.DataFrame:
    """protect_results, and the risk-adjusted interval blanked with the rate it belongs to."""
    out = protect_results(rows, rule)
    for column in EXTRA_DERIVED:
        if column in out.columns:
            out[column] = out[column].astype(float).mask(out["hidden"])
    return out


def year_decisions(marts_dir: Path, year: int, last: pd.Timestamp) -> pd.DataFrame:
    frame = _read(marts_dir, DECISIONS, optional=True)
    if frame is None:
        return pd.DataFrame(columns=["month", "provider_id", "tender_area", "model", "state"])
    frame = _months(frame, "month", "stop_month")
    return frame[(frame["month"].dt.year == year) & (frame["month"] <= last)].reset_index(drop=True)


OUTCOMES = "fct_referral_outcomes"


def _aggregate(marts_dir: Path, sql: str, params: list[object]) -> pd.DataFrame:
    """Run an aggregating query over fct_referral_outcomes (the view `outcomes`): only counts
    and sums leave DuckDB, never a row about a person."""
    con = duckdb.connect()
    try:
        path = str(mart_path(marts_dir, OUTCOMES)).replace("'", "''")
        con.execute(f"create view outcomes as select * from read_parquet('{path}')")
        return con.execute(sql, params).df()
    finally:
        con.close()


def volume_and_cost(marts_dir: Path, year: int) -> pd.DataFrame:
    """Referrals started per provider and area in the year and the year before, and the sum of
    their cost_dkk (as known at the build's as-of date); aggregated in DuckDB."""
    sql = """
        select provider_id, tender_area, year(start_date) as year,
            count(*) as referrals, sum(cost_dkk) as cost_dkk
        from outcomes
        where year(start_date) in (?, ?)
        group by all
        order by 2, 1, 3
    """
    if not (Path(marts_dir) / f"{OUTCOMES}.parquet").exists():
        raise AnnualInputError(f"{OUTCOMES} is missing in {marts_dir}; run provmon build first")
    return _aggregate(marts_dir, sql, [year, year - 1])


# --- tables ----------------------------------------------------------------------------------


def _row(frame: pd.DataFrame, key: tuple) -> pd.Series | None:
    return frame.loc[key] if key in frame.index else None


def _get(row: pd.Series | None, column: str) -> float | None:
    return None if row is None else as_number(row.get(column))


def results_frame(data: AnnualData) -> pd.DataFrame:
    """Per area, provider and measure: the year's row beside the year before's, protected, in
    numbers (the workbook's table and the source of the HTML tables)."""
    keyed = data.results.set_index(["as_of_month", "tender_area", "provider_id", "measure"])
    out = []
    order = data.measure_order()
    for area in data.areas():
        for pid in data.providers_in(area):
            for measure in order:
                now = _row(keyed, (data.month, area, pid, measure))
                if now is None:
                    continue
                then = _row(keyed, (data.previous, area, pid, measure))
                out.append(_result_record(data, area, pid, measure, now, then))
    return pd.DataFrame(out)


def _result_record(
    data: AnnualData, area: int, pid: str, measure: str, now: pd.Series, then: pd.Series | None
) -> dict[str, object]:
    rate, prev_rate = _get(now, "rate"), _get(then, "rate")
    return {
        "tender_area": area,
        "provider_id": pid,
        "provider_name": data.names.get(pid, pid),
        "measure": measure,
        "measure_label": data.measure_label(measure),
        "measure_kind": str(now.get("measure_kind")),
        "n": _get(now, "n"),
        "successes": _get(now, "successes"),
        "rate": rate,
        "rate_low": _get(now, "rate_low"),
        "rate_high": _get(now, "rate_high"),
        "value_mean": _get(now, "value_mean"),
        "prev_n": _get(then, "n"),
        "prev_successes": _get(then, "successes"),
        "prev_rate": prev_rate,
        "prev_rate_low": _get(then, "rate_low"),
        "prev_rate_high": _get(then, "rate_high"),
        "prev_value_mean": _get(then, "value_mean"),
        "change_pp": None if rate is None or prev_rate is None else (rate - prev_rate) * 100,
        "area_rate": _get(now, "area_rate"),
        "area_rate_excl_provider": _get(now, "area_rate_excl_provider"),
        "prev_area_rate": _get(then, "area_rate"),
        "area_value_mean": _get(now, "area_value_mean"),
        "risk_adjusted_rate": _get(now, "risk_adjusted_rate"),
        "risk_adjusted_rate_low": _get(now, "risk_adjusted_rate_low"),
        "risk_adjusted_rate_high": _get(now, "risk_adjusted_rate_high"),
        "expected": _get(now, "expected"),
        "o_e": _get(now, "o_e"),
        "o_e_low": _get(now, "o_e_low"),
        "o_e_high": _get(now, "o_e_high"),
        "adjustment_text": ADJUSTMENT_TEXT.get(str(now.get("adjustment_status")), "ikke risikojusteret"),
    }


ADJUSTMENT_TEXT = {"adjusted": "risikojusteret"}


def decisions_frame(data: AnnualData, rules: Rules, rule: Disclosure) -> pd.DataFrame:
    """The year's decision rows, labelled: month, area, provider, model, proposal, state in
    force, the (disclosure-safe) reason, and the meeting's override with its reason."""
    rows = data.decisions
    if rows.empty:
        return pd.DataFrame()
    rows = rows.sort_values(["tender_area", "provider_id", "model", "month"], ascending=[1, 1, 0, 1])
    out = []
    for r in rows.to_dict("records"):
        area, model = int(r["tender_area"]), Model(str(r["model"]))
        override = r.get("override_state")
        overridden = isinstance(override, str) and bool(override)
        out.append(
            {
                "month": pd.Timestamp(r["month"]),
                "month_text": danish.format_month(r["month"]),
                "tender_area": area,
                "provider_id": str(r["provider_id"]),
                "provider_name": data.names.get(str(r["provider_id"]), str(r["provider_id"])),
                "model": model.value,
                "model_name": MODEL_NAMES.get(model.value, model.value),
                "state": str(r["state"]),
                "proposed_label": rules.area(area).label(model, str(r["proposed_state"])),
                "state_label": str(r["state_label"]),
                "reason_shown": reason_text(r, rule),
                "override_label": rules.area(area).label(model, str(override)) if overridden else "",
                "override_reason": str(r.get("override_reason") or "") if overridden else "",
                "override_date": danish.format_date(r["override_at"])
                if overridden and _has(r, "override_at")
                else "",
            }
        )
    return pd.DataFrame(out)


def _has(record: dict, column: str) -> bool:
    value = record.get(column)
    return value is not None and not (isinstance(value, float) and value != value) and value is not pd.NaT


def volume_frame(data: AnnualData, rule: Disclosure) -> pd.DataFrame:
    """Per area and provider: referrals started and their cost, the year and the year before;
    a small count reads "<5" (in the text columns) and its cost is not shown."""
    vol = data.volume
    out = []
    for area in data.areas():
        for pid in data.providers_in(area):
            record: dict[str, object] = {
                "tender_area": area,
                "provider_id": pid,
                "provider_name": data.names.get(pid, pid),
            }
            for prefix, year in (("", data.year), ("prev_", data.year - 1)):
                hit = vol[(vol["tender_area"] == area) & (vol["provider_id"] == pid) & (vol["year"] == year)]
                count = float(hit["referrals"].sum()) if len(hit) else 0.0
                cost = as_number(hit["cost_dkk"].sum()) if len(hit) else None
                record[f"{prefix}referrals"] = count
                record[f"{prefix}cost_dkk"] = None if rule.is_small(count) else cost
            out.append(record)
    return pd.DataFrame(out)


# --- HTML ------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="da">
<head>
<meta charset="utf-8">
<title>{title}</title>
<script src="{plotly}"></script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 80em; }}
h2 {{ border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }}
.provmon-states td {{ text-align: center; white-space: nowrap; }}
</style>
{style}
</head>
<body>
{body}
</body>
</html>
"""


def _table(frame: pd.DataFrame, empty: str) -> str:
    return present.table(frame, empty).data


def _note(text: str) -> str:
    return present.note(text).data


def _heading(text: str, level: int = 2) -> str:
    return present.heading(text, level).data


def _figure(fig: go.Figure) -> str:
    return present.figure(fig).data


def _value_text(
    kind: str, rate: float | None, low: float | None, high: float | None, mean: float | None
) -> str:
    if kind == "binary":
        return rate_text(rate, low, high)
    return danish.format_number(mean, 1)


def _oe_text(record: pd.Series) -> str:
    o_e = as_number(record.get("o_e"))
    if o_e is None:
        return danish.MISSING
    low, high = as_number(record.get("o_e_low")), as_number(record.get("o_e_high"))
    interval = (
        ""
        if low is None or high is None
        else f" ({danish.format_number(low, 2)}–{danish.format_number(high, 2)})"
    )
    return danish.format_number(o_e, 2) + interval


def provider_results_table(frame: pd.DataFrame, data: AnnualData, rule: Disclosure) -> pd.DataFrame:
    """One provider's measures: the year, the year before, the change and the area."""
    year, prev = str(data.year), str(data.year - 1)
    out = []
    for _, r in frame.iterrows():
        kind = str(r["measure_kind"])
        out.append(
            {
                "Mål": r["measure_label"],
                f"Forløb {year}": count_text(as_number(r["n"]), rule),
                f"Resultat {year} (95 %-interval)": _value_text(
                    kind, *(as_number(r[c]) for c in ("rate", "rate_low", "rate_high", "value_mean"))
                ),
                f"Forløb {prev}": count_text(as_number(r["prev_n"]), rule),
                f"Resultat {prev} (95 %-interval)": _value_text(
                    kind,
                    *(
                        as_number(r[c])
                        for c in ("prev_rate", "prev_rate_low", "prev_rate_high", "prev_value_mean")
                    ),
                ),
                "Ændring (procentpoint)": danish.format_number(as_number(r["change_pp"]), 1),
                f"Området {year}": (
                    rate_text(as_number(r["area_rate"]))
                    if kind == "binary"
                    else danish.format_number(as_number(r["area_value_mean"]), 1)
                ),
                "Området uden leverandøren": rate_text(as_number(r["area_rate_excl_provider"])),
                "Risikojusteret andel (95 %-interval)": rate_text(
                    *(
                        as_number(r[c])
                        for c in ("risk_adjusted_rate", "risk_adjusted_rate_low", "risk_adjusted_rate_high")
                    )
                ),
                "Observeret/forventet (95 %-interval)": _oe_text(r),
            }
        )
    return pd.DataFrame(out)


def states_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per model, one column per month: the state in force (an asterisk where the
    meeting overrode the proposal)."""
    if decisions.empty:
        return pd.DataFrame()
    out = []
    for model in MODELS:
        rows = decisions[decisions["model"] == model.value]
        if rows.empty:
            continue
        record = {"Model": MODEL_NAMES[model.value]}
        for _, r in rows.iterrows():
            record[danish.MONTH_NAMES[r["month"].month - 1][:3]] = r["state_label"] + (
                " *" if r["override_label"] else ""
            )
        out.append(record)
    return pd.DataFrame(out)


def overrides_table(decisions: pd.DataFrame) -> pd.DataFrame:
    if decisions.empty:
        return pd.DataFrame()
    rows = decisions[decisions["override_label"] != ""]
    return pd.DataFrame(
        {
            "Måned": rows["month_text"],
            "Model": rows["model_name"],
            "Pipelinens forslag": rows["proposed_label"],
            "Mødets beslutning": rows["override_label"],
            "Begrundelse": rows["override_reason"],
            "Besluttet": rows["override_date"],
        }
    )


def _kroner(value: float | None) -> str:
    return danish.MISSING if value is None else f"{danish.format_int(value)} kr."


def volume_table(
    rows: pd.DataFrame, data: AnnualData, rule: Disclosure, label: str = "Leverandør"
) -> pd.DataFrame:
    year, prev = data.year, data.year - 1
    return pd.DataFrame(
        {
            label: rows["provider_name"],
            f"Henvisninger startet {year}": [count_text(v, rule) for v in rows["referrals"]],
            f"Samlet pris {year}": [_kroner(as_number(v)) for v in rows["cost_dkk"]],
            f"Henvisninger startet {prev}": [count_text(v, rule) for v in rows["prev_referrals"]],
            f"Samlet pris {prev}": [_kroner(as_number(v)) for v in rows["prev_cost_dkk"]],
        }
    )


def summary_table(
    data: AnnualData,
    area: int,
    rules: Rules,
    results: pd.DataFrame,
    decisions: pd.DataFrame,
    volume: pd.DataFrame,
    rule: Disclosure,
) -> pd.DataFrame:
    """The area's first table: every provider's primary measure this year and last, O/E, the
    state in force at the year's end and the year's overrides, and the volume."""
    primary = rules.area(area).primary_measure
    out = []
    for pid in data.providers_in(area):
        r = results[(results["provider_id"] == pid) & (results["measure"] == primary)]
        row = r.iloc[0] if len(r) else None
        mine = decisions[decisions["provider_id"] == pid] if not decisions.empty else decisions
        vol = volume[volume["provider_id"] == pid]
        record = {
            "Leverandør": data.names.get(pid, pid),
            f"Forløb {data.year}": count_text(_get(row, "n"), rule),
            f"{data.measure_label(primary)} {data.year}": rate_text(_get(row, "rate")),
            f"{data.measure_label(primary)} {data.year - 1}": rate_text(_get(row, "prev_rate")),
            "Observeret/forventet": danish.MISSING if row is None else _oe_text(row),
        }
        for model in MODELS:
            last = mine[mine["model"] == model.value] if not mine.empty else mine
            record[f"Tilstand ved årets udgang, {MODEL_NAMES[model.value].lower()}"] = (
                str(last.iloc[-1]["state_label"]) if len(last) else danish.MISSING
            )
        record["Ændringer af mødet"] = (
            danish.format_int(int((mine["override_label"] != "").sum())) if len(mine) else "0"
        )
        record[f"Henvisninger startet {data.year}"] = count_text(
            as_number(vol["referrals"].iloc[0]) if len(vol) else 0, rule
        )
        out.append(record)
    return pd.DataFrame(out)


def area_page(
    data: AnnualData,
    area: int,
    rules: Rules,
    config: ReportConfig,
    results: pd.DataFrame,
    decisions: pd.DataFrame,
    volume: pd.DataFrame,
) -> str:
    """The HTML of one tender area's annual report."""
    rule = config.disclosure
    name = rules.area(area).name
    title = f"Erfaringsopsamling {data.year}: udbudsområde {area}, {name}"
    res = results[results["tender_area"] == area]
    dec = decisions[decisions["tender_area"] == area] if not decisions.empty else decisions
    vol = volume[volume["tender_area"] == area]
    parts = [
        present.title(
            title,
            f"Årlig erfaringsopsamling for rammeaftalen, til dialogen med hver leverandør og "
            f"det årlige direktørmøde. Dannet {danish.format_date(dt.date.today(), long=True)}.",
        ).data,
        present.box(
            "Grundlag og læsevejledning",
            [
                data.base_text(),
                "Området er alle områdets leverandører over samme grundlag. Risikojusteret andel og "
                "observeret/forventet sammenligner leverandøren med, hvad dens egne borgere kunne "
                "forventes at opnå (områdets risikomodel); et interval, der indeholder 1, betyder "
                "som forventet.",
                f"Henvisninger og pris gælder forløb startet i kalenderåret; prisen er summen af "
                f"forløbenes pris, som den er kendt pr. {danish.format_date(data.base_end)}.",
                f"Tal under {rule.min_count} vises som {rule.small_label}, og andele, intervaller og "
                "priser beregnet på dem vises ikke. Ingen oplysninger om enkeltpersoner.",
            ],
        ).data,
        _heading("Overblik"),
        _table(summary_table(data, area, rules, res, dec, vol, rule), "Ingen leverandører i området."),
        _figure(_trend(data, area, rules, rule)),
        _states_chart(data, area, rules, config, dec),
        _heading("Volumen og pris"),
        _table(volume_table(vol, data, rule), "Ingen henvisninger i året."),
    ]
    for pid in data.providers_in(area):
        mine = dec[dec["provider_id"] == pid] if not dec.empty else dec
        parts += [
            _heading(f"{data.names.get(pid, pid)} ({pid})"),
            _heading("Resultater på alle mål", 3),
            _table(provider_results_table(res[res["provider_id"] == pid], data, rule), "Ingen resultater."),
            _heading(f"Bookingtilstande gennem {data.year}", 3),
            _table(states_table(mine), "Ingen bookingforslag i året: kør provmon decide."),
            _note("* opfølgningsmødet ændrede pipelinens forslag (se nedenfor).")
            if len(overrides_table(mine))
            else "",
            _heading("Mødets ændringer og begrundelser", 3),
            _table(overrides_table(mine), "Mødet ændrede ingen forslag i året."),
        ]
    return PAGE.format(
        title=html.escape(title), plotly=present.PLOTLY_FILE, style=present.STYLE, body="\n".join(parts)
    )


def _trend(data: AnnualData, area: int, rules: Rules, rule: Disclosure) -> go.Figure:
    primary = rules.area(area).primary_measure
    rows = data.trend[(data.trend["tender_area"] == area) & (data.trend["measure"] == primary)]
    label = data.measure_label(primary)
    title = f"Udvikling {data.year - 1}–{data.year}: {label}"
    return charts.trend_chart(rows, data.names, rule, title, label)


def _states_chart(data: AnnualData, area: int, rules: Rules, config: ReportConfig, dec: pd.DataFrame) -> str:
    if dec.empty:
        return ""
    rows = data.decisions[
        (data.decisions["tender_area"] == area) & (data.decisions["model"] == Model.SOFT.value)
    ]
    spec = rules.area(area)
    order = list(type(spec.states(Model.SOFT)).model_fields)
    names = {s: spec.label(Model.SOFT, s) for s in order}
    reasons = [reason_text(r, config.disclosure) for r in rows.to_dict("records")]
    fig = charts.states_chart(
        rows,
        data.names,
        order,
        names,
        config.state_colours,
        reasons,
        f"Bookingtilstande gennem {data.year} (blid overgang)",
    )
    return _figure(fig)


# --- the workbook ----------------------------------------------------------------------------


def _bounds(header: str, source: str, kind: str) -> tuple[Column, Column]:
    """The lower and upper 95 % bound of a value (the columns <source>_low and <source>_high)."""
    return (
        Column(f"{header}, nedre 95 %", f"{source}_low", kind),
        Column(f"{header}, øvre 95 %", f"{source}_high", kind),
    )


def _year_columns(year: int, prefix: str) -> tuple[Column, ...]:
    """One year's result: this year's columns, or last year's (prefix "prev_")."""
    return (
        Column(f"Forløb {year}", f"{prefix}n", "count"),
        Column(f"Med resultat {year}", f"{prefix}successes", "count"),
        Column(f"Andel {year}", f"{prefix}rate", "percent", 10),
        *_bounds(f"Andel {year}", f"{prefix}rate", "percent"),
        Column(f"Gennemsnit {year}", f"{prefix}value_mean", "number"),
    )


def _result_columns(year: int) -> tuple[Column, ...]:
    prev = year - 1
    return (
        *PROVIDER_KEY,
        Column("Mål-id", "measure", "text", 24),
        Column("Mål", "measure_label", "text", 40),
        *_year_columns(year, ""),
        *_year_columns(prev, "prev_"),
        Column("Ændring (procentpoint)", "change_pp", "number"),
        Column(f"Områdets andel {year}", "area_rate", "percent"),
        AREA_RATE_EXCL_PROVIDER,
        Column(f"Områdets andel {prev}", "prev_area_rate", "percent"),
        Column(f"Områdets gennemsnit {year}", "area_value_mean", "number"),
        RISK_ADJUSTED_RATE,
        *_bounds("Risikojusteret", "risk_adjusted_rate", "percent"),
        Column("Forventet antal", "expected", "number"),
        Column("Observeret/forventet", "o_e", "ratio"),
        *_bounds("O/F", "o_e", "ratio"),
        Column("Sammenligning", "adjustment_text", "text", 18),
    )


DECISION_SHEET_COLUMNS = (
    Column("Måned", "month_text", "text", 16),
    *PROVIDER_KEY,
    *BOOKING_STATE,
    Column("Begrundelse", "reason_shown", "text", 80),
    Column("Mødets beslutning", "override_label", "text", 18),
    Column("Mødets begrundelse", "override_reason", "text", 50),
    Column("Besluttet", "override_date", "text", 12),
)


def _volume_columns(year: int) -> tuple[Column, ...]:
    return (
        *PROVIDER_KEY,
        Column(f"Henvisninger startet {year}", "referrals", "count"),
        Column(f"Samlet pris {year}", "cost_dkk", "kroner", 16),
        Column(f"Henvisninger startet {year - 1}", "prev_referrals", "count"),
        Column(f"Samlet pris {year - 1}", "prev_cost_dkk", "kroner", 16),
    )


def _annual_cell(row: dict, column: Column, formats: _Formats, rule: Disclosure) -> tuple[object, object]:
    """An annual workbook cell: a small count reads "<5" (the annual report has no flag column);
    a missing or blanked number is empty; a missing text is an empty text."""
    value = row.get(column.source)
    if column.kind == "text":
        return ("" if value is None else str(value)), formats.text
    number = as_number(value)
    if number is not None and column.kind == "count" and rule.is_small(number):
        return rule.small_label, formats.text
    return number, formats.of(column.kind)


def write_rows(sheet, formats: _Formats, top: int, frame: pd.DataFrame, columns, rule: Disclosure) -> None:
    """A header and the rows (excel.write_table), the first three columns frozen."""

    def cell_of(row: dict, column: Column) -> tuple[object, object]:
        return _annual_cell(row, column, formats, rule)

    write_table(sheet, formats, top, frame, columns, cell_of, frozen=3)


def write_workbook(
    data: AnnualData,
    results: pd.DataFrame,
    decisions: pd.DataFrame,
    volume: pd.DataFrame,
    config: ReportConfig,
    path: Path,
) -> Path:
    """The year's workbook (to a temporary name, then renamed)."""
    rule = config.disclosure
    notes = [
        data.base_text(),
        f"Tal under {rule.min_count} vises som {rule.small_label}; andele, intervaller, gennemsnit og "
        "priser beregnet på dem er udeladt.",
        "Henvisninger og pris: forløb startet i kalenderåret (pris = summen af forløbenes pris).",
    ]
    with atomic_path(path) as tmp:
        book = xlsxwriter.Workbook(str(tmp))
        formats = _Formats(book)
        sheets = (
            (
                "Resultater",
                f"Resultater {data.year} mod {data.year - 1} og området",
                results,
                _result_columns(data.year),
            ),
            (
                "Bookingtilstande",
                f"Bookingtilstande og mødets ændringer {data.year}",
                decisions,
                DECISION_SHEET_COLUMNS,
            ),
            (
                "Volumen og pris",
                f"Henvisninger og pris {data.year} og {data.year - 1}",
                volume,
                _volume_columns(data.year),
            ),
        )
        for name, heading, frame, columns in sheets:
            sheet = book.add_worksheet(sheet_name(name))
            sheet.write_string(0, 0, heading, formats.title)
            for i, line in enumerate(notes):
                sheet.write_string(1 + i, 0, line, formats.note)
            if frame.empty:
                sheet.write_string(5, 0, "Ingen rækker for året.", formats.note)
            else:
                write_rows(sheet, formats, 5, frame, columns, rule)
        book.close()
    return path


# --- the verb --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnualSummary:
    """What `provmon report --year` wrote; str() is the CLI's one-line summary."""

    year: int
    month: dt.date
    folder: Path
    area_reports: tuple[Path, ...]
    workbook: Path
    index: Path
    seconds: float

    def __str__(self) -> str:
        return (
            f"report: erfaringsopsamling {self.year} (grundlag {danish.format_month(self.month)}) – "
            f"{len(self.area_reports)} area reports and {self.workbook.name} in {self.folder}, "
            f"index {self.index}, {self.seconds:.1f} s"
        )


def parse_year(year: int | str) -> int:
    try:
        value = int(str(year).strip())
    except ValueError:
        raise AnnualInputError(f"'{year}' is not a year of the form YYYY") from None
    if not 1900 <= value <= 2999:
        raise AnnualInputError(f"'{year}' is not a year of the form YYYY")
    return value


def annual_report(settings: Settings, year: int | str) -> AnnualSummary:
    """Write the year's experience reports and workbook to settings.out_dir/<YYYY>/ and link
    them from settings.out_dir/index.html."""
    started = time.monotonic()
    config, rules = load_config(), load_rules()
    data = load_annual_data(settings.marts_dir, parse_year(year), config)
    folder = settings.out_dir / str(data.year)
    folder.mkdir(parents=True, exist_ok=True)
    results = results_frame(data)
    decisions = decisions_frame(data, rules, config.disclosure)
    volume = volume_frame(data, config.disclosure)
    present.write_plotly(folder)
    pages = []
    for area in data.areas():
        path = folder / area_file(area)
        atomic_write_text(path, area_page(data, area, rules, config, results, decisions, volume))
        pages.append(path)
    workbook = write_workbook(data, results, decisions, volume, config, folder / workbook_file(data.year))
    manifest = {
        "year": data.year,
        "title": f"Erfaringsopsamling {data.year}",
        "areas": [
            {"key": str(a), "title": f"Udbudsområde {a}, {rules.area(a).name}", "file": area_file(a)}
            for a in data.areas()
        ],
        "workbook": workbook.name,
    }
    atomic_write_text(folder / ANNUAL_MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
    index = write_index(settings.out_dir)
    return AnnualSummary(
        year=data.year,
        month=data.month.date(),
        folder=folder,
        area_reports=tuple(pages),
        workbook=workbook,
        index=index,
        seconds=time.monotonic() - started,
    )
