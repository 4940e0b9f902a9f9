"""Delivery files: one per extract and delivery, written chunk by chunk.

A delivery's rows arrive in pieces (one per chunk of citizens), so every file is appended to:
CSV files are opened, appended and closed per piece, Parquet files keep one ParquetWriter open
(one row group per piece), workbooks are collected and written at the end (only small extracts
are ever written as .xlsx). Each file has a dialect: the plain one of its format, or one of the
world's variants (Windows-1252 with ';' and decimal commas, DD.MM.YYYY dates, ISO weeks, header
names in another case and order, an extra column …), all of which the contract accepts, or the
"site" dialect: Danish headers, code values and file names of the example site mapping
(site.py), which ingestion accepts through that mapping."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import xlsxwriter

from pipeline.contract import Column, Extract, load_contract
from pipeline.generate.config import Scale, World
from pipeline.generate.rows import Labels, Rows, Vocab
from pipeline.generate.site import SiteTexts, Translation
from pipeline.generate.timeline import (
    NULL,
    Timeline,
    bad_text,
    date_of,
    is_bad,
    month_of,
    month_text,
)

Format = Literal["csv", "xlsx", "parquet"]
_EXTENSION = {"csv": "csv", "xlsx": "xlsx", "parquet": "parquet"}
_FIXED_CREATED = dt.datetime(2000, 1, 1)  # workbook metadata, so a seed gives the same bytes


@dataclass(frozen=True)
class Dialect:
    format: Format
    encoding: str = "utf-8"
    bom: bool = False
    sep: str = ","
    decimal: str = "."
    date_format: str = "iso"
    week_format: str = "date"
    headers: tuple[tuple[str, str], ...] = ()  # (column, header as written) in file order
    extra_column: str | None = None
    crlf: bool = False
    site: bool = False  # headers and code values of the site mapping
    codes: tuple[tuple[str, Translation], ...] = ()  # (column, its codes' site values) when site

    def layout(self, spec: Extract) -> list[tuple[str, str]]:
        return list(self.headers) or [(name, name) for name in spec.columns]

    def describe(self) -> dict:
        out = asdict(self)
        out["headers"] = [h for _, h in self.headers] or None
        del out["codes"]  # the site mapping says them
        return out

    def codes_need_quotes(self) -> bool:
        return any(self.sep in v or '"' in v for _, values in self.codes for _, v in values)


# How a site's own system exports a CSV: separator ';', decimal comma, Danish dates, a BOM and
# Windows line ends (`provmon generate --dialect site`).
_SITE_CSV = {"sep": ";", "decimal": ",", "date_format": "dmy_dash", "bom": True, "crlf": True}


def as_site(dialect: Dialect, extract: str, site: SiteTexts, varied: np.random.Generator | None) -> Dialect:
    """The dialect with the site's headers (in another case and order when `varied` draws
    them) and code values."""
    headers = site.headers(extract)
    if varied is not None:
        headers = _varied_headers(headers, varied)
    return replace(dialect, site=True, headers=headers, codes=site.codes(extract))


@dataclass
class DialectPlan:
    """Which dialect each delivery file has: its extract's plain format unless a variant
    names it."""

    default: dict[str, Format]
    variants: dict[tuple[str, int], Dialect] = field(default_factory=dict)
    site: SiteTexts | None = None  # every delivery as the site writes it (--dialect site)
    _base: dict[str, Dialect] = field(default_factory=dict)

    def of(self, extract: str, delivery: int) -> Dialect:
        found = self.variants.get((extract, delivery))
        if found is not None:
            return found
        if extract not in self._base:
            plain = Dialect(self.default[extract])
            if self.site:
                extras = _SITE_CSV if plain.format == "csv" else {}
                plain = as_site(replace(plain, **extras), extract, self.site, None)
            self._base[extract] = plain
        return self._base[extract]

    def file_name(self, extract: str, day: dt.date, ext: str) -> str:
        """`<extract>_<YYYYMMDD>.<ext>`, or the name the site's source system gives it."""
        named = self.site.file_name(extract, day, ext) if self.site else None
        return named or f"{extract}_{day:%Y%m%d}.{ext}"


def plan_dialects(
    world: World,
    scale: Scale,
    timeline: Timeline,
    with_variants: bool,
    rng: np.random.Generator,
    site: SiteTexts | None = None,
    site_all: bool = False,
) -> DialectPlan:
    """Each delivery's dialect: the variants of world.yaml when planting dirt, the site's
    dialect for all (`site_all`) or for the variants that ask for it (`site` gives its texts)."""
    contract = load_contract()
    default: dict[str, Format] = {
        name: scale.big_extract_format if name in world.big_extracts else "csv" for name in contract.extracts
    }
    plan = DialectPlan(default, site=site if site_all else None)
    if not with_variants:
        return plan
    for v in world.dirt.variants:
        base = default[v.extract]
        spec = contract.extracts[v.extract]
        plain = tuple((name, name) for name in spec.columns)
        headers = _varied_headers(plain, rng) if v.header == "varied" else ()
        if base == "parquet":  # separators, encodings and date texts do not exist in Parquet
            dialect = Dialect(
                "parquet", week_format=v.week_format, headers=headers, extra_column=v.extra_column
            )
        else:
            dialect = Dialect(
                v.format or "csv",
                encoding=v.encoding,
                bom=v.bom,
                sep=v.sep,
                decimal=v.decimal,
                date_format=v.date_format,
                week_format=v.week_format,
                headers=headers,
                extra_column=v.extra_column,
                crlf=v.crlf,
            )
            if dialect.format == "xlsx":
                dialect = Dialect("xlsx", headers=headers, extra_column=v.extra_column)
        if (v.site or site_all) and site is not None:
            dialect = as_site(dialect, v.extract, site, rng if v.header == "varied" else None)
        plan.variants[(v.extract, timeline.delivery_at(v.at))] = dialect
    return plan


def _varied_headers(
    layout: tuple[tuple[str, str], ...], rng: np.random.Generator
) -> tuple[tuple[str, str], ...]:
    """Header names in another case, with surrounding spaces, in another column order."""
    styles = (str.upper, str.title, lambda s: f" {s} ", lambda s: f"{s.upper()} ")
    order = rng.permutation(len(layout))
    return tuple((layout[i][0], styles[int(rng.integers(0, len(styles)))](layout[i][1])) for i in order)


@dataclass
class FileReport:
    path: str  # relative to the output folder
    extract: str
    delivery: int
    delivery_date: str
    dialect: Dialect
    rows: int = 0
    planted: Counter = field(default_factory=Counter)


class Formatter:
    """Column values (rows.py) as Arrow arrays of text, as typed Arrow arrays, or as cells."""

    def __init__(self, timeline: Timeline, bad_forms: list[tuple[int, int]]):
        self.timeline = timeline
        self.bad_forms = bad_forms
        self._tables: dict[str, pa.Array] = {}
        self.lo, self.hi = timeline.text_range
        self.month_lo = int(month_of(np.array([self.lo]))[0])
        self._translated: dict[tuple[int, str], tuple[Vocab, Vocab]] = {}

    def site_values(
        self, column: Column, values: Labels | np.ndarray, dialect: Dialect
    ) -> Labels | np.ndarray:
        """A code column's values as the site writes them (a planted unknown code stays as it
        is); other columns and dialects unchanged. Translated once per vocabulary."""
        if not dialect.codes or column.type != "code" or not isinstance(values, Labels):
            return values
        table = dict(dialect.codes).get(column.name)
        if not table:
            return values
        key = (id(values.vocab), column.name)
        known = self._translated.get(key)
        if known is None or known[0] is not values.vocab:
            lookup = dict(table)
            texts = [lookup.get(str(t).lower(), t) for t in values.vocab.texts]
            known = self._translated[key] = (values.vocab, Vocab(texts))
        return Labels(values.idx, known[1])

    def _table(self, kind: str) -> pa.Array:
        """Texts of every day (or month) of the text range."""
        if kind not in self._tables:
            if kind == "month":
                last = int(month_of(np.array([self.hi]))[0])
                texts = [month_text(m) for m in range(self.month_lo, last + 1)]
            elif kind == "iso_week":
                texts = list(self.timeline.iso_week_texts())
            else:
                texts = list(self.timeline.date_texts(kind))
            self._tables[kind] = pa.array(texts, type=pa.string())
        return self._tables[kind]

    def _lookup(self, values: np.ndarray, kind: str) -> pa.Array:
        """Texts by table lookup; the few planted impossible dates are appended to the table."""
        table = self._table(kind)
        bad = is_bad(values)
        missing = values == NULL
        idx = np.where(bad | missing, 0, values - (self.month_lo if kind == "month" else self.lo))
        if bad.any():
            fmt = "iso" if kind == "iso_week" else kind
            texts = [
                bad_text(v, "month" if kind == "month" else "date", fmt, self.bad_forms) for v in values[bad]
            ]
            idx[bad] = len(table) + np.arange(bad.sum())
            table = pa.concat_arrays([table, pa.array(texts, type=pa.string())])
        return pc.take(table, pa.array(idx, mask=missing))

    def _date_kind(self, column: Column, dialect: Dialect) -> str:
        if column.type == "month":
            return "month"
        if column.type == "week" and dialect.week_format == "iso_week":
            return "iso_week"
        return dialect.date_format

    def text(self, column: Column, values: Labels | np.ndarray, dialect: Dialect) -> pa.Array:
        values = self.site_values(column, values, dialect)
        if isinstance(values, Labels):
            return _labels_arrow(values)
        if column.type in ("date", "week", "month"):
            return self._lookup(values, self._date_kind(column, dialect))
        if column.type == "decimal":
            out = pa.array(values, mask=np.isnan(values)).cast(pa.string())
            return pc.replace_substring(out, ".", ",") if dialect.decimal == "," else out
        return pa.array(values).cast(pa.string())

    def typed(self, column: Column, values: Labels | np.ndarray, dialect: Dialect) -> pa.Array:
        values = self.site_values(column, values, dialect)
        if isinstance(values, Labels):
            return _labels_arrow(values)
        kind = self._date_kind(column, dialect)
        if column.type in ("date", "week") and kind != "iso_week":
            if is_bad(values).any():
                raise AssertionError("an impossible date cannot be written to a Parquet date column")
            return pa.array(values.astype(np.int32), type=pa.date32(), mask=values == NULL)
        if column.type in ("date", "week", "month"):
            return self._lookup(values, kind)
        if column.type == "decimal":
            return pa.array(values, type=pa.float64(), mask=np.isnan(values))
        return pa.array(values, type=pa.int64())

    def cells(self, column: Column, values: Labels | np.ndarray, dialect: Dialect) -> list:
        """Workbook cells: dates as real dates (as Excel exports them), numbers as numbers."""
        values = self.site_values(column, values, dialect)
        if isinstance(values, Labels):
            return list(values.texts())
        if column.type in ("date", "week"):
            texts = self._lookup(values, "iso").to_pylist()
            bad = is_bad(values)
            return [
                None if v == NULL else t if b else date_of(v)
                for v, t, b in zip(values.tolist(), texts, bad.tolist(), strict=True)
            ]
        if column.type == "month":
            return self._lookup(values, "month").to_pylist()
        if column.type == "decimal":
            return [None if np.isnan(v) else float(v) for v in values]
        return [int(v) for v in values]


def _labels_arrow(values: Labels) -> pa.Array:
    missing = values.idx < 0
    return pc.take(values.vocab.arrow, pa.array(np.where(missing, 0, values.idx), mask=missing))


def arrow_type(column: Column, dialect: Dialect) -> pa.DataType:
    if column.type in ("date", "week") and not (column.type == "week" and dialect.week_format == "iso_week"):
        return pa.date32()
    return {"decimal": pa.float64(), "int": pa.int64()}.get(column.type, pa.string())


class ExtractWriter:
    """The delivery files of one extract."""

    def __init__(
        self,
        spec: Extract,
        out: Path,
        timeline: Timeline,
        plan: DialectPlan,
        formatter: Formatter,
        extra_values: list[str],
    ):
        self.spec, self.out, self.timeline = spec, out, timeline
        self.plan, self.formatter, self.extra_values = plan, formatter, extra_values
        self.reports: dict[int, FileReport] = {}
        self._parquet: dict[int, pq.ParquetWriter] = {}
        self._cells: dict[int, list[list]] = {}
        (out / spec.name).mkdir(parents=True, exist_ok=True)

    def report(self, delivery: int) -> FileReport:
        if delivery not in self.reports:
            dialect = self.plan.of(self.spec.name, delivery)
            date = self.timeline.delivery_date(delivery)
            name = f"{self.spec.name}/{self.plan.file_name(self.spec.name, date, _EXTENSION[dialect.format])}"
            self.reports[delivery] = FileReport(name, self.spec.name, delivery, date.isoformat(), dialect)
        return self.reports[delivery]

    def textual(self, delivery: int) -> Callable[[str], bool]:
        """Whether a date-type column of this file is text (so an impossible date fits)."""
        dialect = self.plan.of(self.spec.name, delivery)
        if dialect.format != "parquet":
            return lambda name: True
        return lambda name: arrow_type(self.spec.columns[name], dialect) == pa.string()

    def append(self, delivery: int, rows: Rows, planted: Counter, rng: np.random.Generator) -> None:
        report = self.report(delivery)
        report.rows += len(rows)
        report.planted.update(planted)
        extra = list(rng.choice(self.extra_values, len(rows))) if report.dialect.extra_column else None
        {"csv": self._csv, "parquet": self._parquet_append, "xlsx": self._xlsx}[report.dialect.format](
            report, rows, extra
        )

    def close(self) -> list[FileReport]:
        """Finish every file, including empty deliveries (a header only)."""
        for delivery, report in sorted(self.reports.items()):
            path = self.out / report.path
            if report.dialect.format == "parquet":
                writer = self._parquet.pop(delivery, None)
                if writer is None:
                    writer = pq.ParquetWriter(path, self._schema(report.dialect))
                writer.close()
            elif report.dialect.format == "xlsx":
                self._write_workbook(path, report.dialect, self._cells.pop(delivery, []))
            elif not path.exists():
                self._csv(report, None, None)
        return [self.reports[d] for d in sorted(self.reports)]

    # --- CSV ----------------------------------------------------------------------------------

    def _csv(self, report: FileReport, rows: Rows | None, extra: list[str] | None) -> None:
        dialect, path = report.dialect, self.out / report.path
        layout = dialect.layout(self.spec)
        headers = [h for _, h in layout] + ([dialect.extra_column] if dialect.extra_column else [])
        new = not path.exists()
        chunks = []
        if new:
            header = dialect.sep.join(_quoted(h, dialect.sep) for h in headers) + "\n"
            chunks.append(("\ufeff" if dialect.bom else "") + header)
        if rows is not None and len(rows):
            arrays = [self.formatter.text(self.spec.columns[c], rows.columns[c], dialect) for c, _ in layout]
            if extra is not None:
                arrays.append(pa.array(extra, type=pa.string()))
            table = pa.table(arrays, names=[f"c{i}" for i in range(len(arrays))])
            quotes = self._needs_quotes(rows, extra, dialect.sep) or dialect.codes_need_quotes()
            quoting = "needed" if quotes else "none"
            buffer = io.BytesIO()
            pa_csv.write_csv(
                table,
                buffer,
                pa_csv.WriteOptions(include_header=False, delimiter=dialect.sep, quoting_style=quoting),
            )
            chunks.append(buffer.getvalue().decode("utf-8"))
        text = "".join(chunks)
        if dialect.crlf:
            text = text.replace("\n", "\r\n")
        with open(path, "wb" if new else "ab") as fh:
            fh.write(text.encode(dialect.encoding))

    def _needs_quotes(self, rows: Rows, extra: list[str] | None, sep: str) -> bool:
        if extra is not None and any(_quoted(t, sep) != t for t in self.extra_values):
            return True
        return any(c.vocab.needs_quotes(sep) for c in rows.columns.values() if isinstance(c, Labels))

    # --- Parquet ------------------------------------------------------------------------------

    def _schema(self, dialect: Dialect) -> pa.Schema:
        fields = [
            pa.field(h, arrow_type(self.spec.columns[c], dialect)) for c, h in dialect.layout(self.spec)
        ]
        if dialect.extra_column:
            fields.append(pa.field(dialect.extra_column, pa.string()))
        return pa.schema(fields)

    def _parquet_append(self, report: FileReport, rows: Rows, extra: list[str] | None) -> None:
        dialect = report.dialect
        schema = self._schema(dialect)
        arrays = [
            self.formatter.typed(self.spec.columns[c], rows.columns[c], dialect)
            for c, _ in dialect.layout(self.spec)
        ]
        if extra is not None:
            arrays.append(pa.array(extra, type=pa.string()))
        if report.delivery not in self._parquet:
            self._parquet[report.delivery] = pq.ParquetWriter(self.out / report.path, schema)
        self._parquet[report.delivery].write_table(pa.Table.from_arrays(arrays, schema=schema))

    # --- Excel --------------------------------------------------------------------------------

    def _xlsx(self, report: FileReport, rows: Rows, extra: list[str] | None) -> None:
        dialect = report.dialect
        columns = [
            self.formatter.cells(self.spec.columns[c], rows.columns[c], dialect)
            for c, _ in dialect.layout(self.spec)
        ]
        if extra is not None:
            columns.append(extra)
        self._cells.setdefault(report.delivery, []).extend(zip(*columns, strict=True))

    def _write_workbook(self, path: Path, dialect: Dialect, rows: list) -> None:
        workbook = xlsxwriter.Workbook(str(path))
        workbook.set_properties({"created": _FIXED_CREATED})
        sheet = workbook.add_worksheet("Data")
        date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
        headers = [h for _, h in dialect.layout(self.spec)] + (
            [dialect.extra_column] if dialect.extra_column else []
        )
        sheet.write_row(0, 0, headers)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, dt.date):
                    sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), date_format)
                elif isinstance(value, str):
                    sheet.write_string(r, c, value)
                else:
                    sheet.write_number(r, c, value)
        workbook.close()


def _quoted(text: str, sep: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if sep in text or '"' in text else text
