"""Reading the raw deliveries the way an analyst would: pandas over every delivery file, the
contract's rules applied to each row, then the newest delivery per business key.

This is the reading half of the plain alternative (pandas_outcomes.py). It follows the input
contract (raw-extracts.md) on its own terms, without any of pipeline/ingest: its types, codes and
row rules come from pipeline/contract/extracts.yaml (the contract as data), the CPR rules are
written again here in pandas, so that when this script and the pipeline agree it is evidence,
not the same code run twice. It keeps the clear CPR in memory as the person id and writes
nothing anywhere."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline.contract import Column, Extract, load_contract

log = logging.getLogger(__name__)

DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y")
_FILE_NAME = r"{extract}_(\d{{8}})\.(csv|xlsx|parquet)"
_CPR = re.compile(r"^(\d{6})-?(\d{4})$")
_STRIP = " \t\r\n\xa0"
# The person id this script works with: the CPR's ten digits as a number (leading zeros do not
# matter for a join key), named like the column it comes from.
PERSON = "cpr"

Parser = Callable[[pd.Series, Column], tuple[pd.Series, pd.Series]]


# --- files ------------------------------------------------------------------------------------


def deliveries(raw_dir: Path, extract: str) -> list[tuple[dt.date, Path]]:
    """The delivery files of one extract, oldest first (the date is in the file name)."""
    pattern = re.compile(_FILE_NAME.format(extract=re.escape(extract)), re.IGNORECASE)
    found = []
    for path in (raw_dir / extract).glob("*"):
        match = pattern.fullmatch(path.name)
        if match:
            found.append((dt.datetime.strptime(match.group(1), "%Y%m%d").date(), path))
    return sorted(found)


def read_file(path: Path) -> pd.DataFrame:
    """One delivery as a frame with lower-case column names. CSV and Excel come as text;
    Parquet keeps its column types (dates, numbers), which the parsers accept as they are."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif suffix == ".xlsx":
        frame = pd.read_excel(path, dtype=str)
    else:
        frame = _read_csv(path)
    frame.columns = [str(c).replace("\ufeff", "").strip().lower() for c in frame.columns]
    return frame.dropna(how="all")


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV in any dialect of the contract: UTF-8 (BOM or not) or Windows-1252, ';' or ','."""
    with open(path, "rb") as fh:
        first = fh.readline().decode("utf-8-sig", errors="replace").strip()
    skip = 1 if first.lower().startswith("sep=") else 0
    detected = ";" if first.count(";") > first.count(",") else ","
    sep = first[4:5] if skip else detected
    options = {"sep": sep, "dtype": str, "keep_default_na": False, "na_values": [""], "skiprows": skip}
    try:
        return pd.read_csv(path, encoding="utf-8-sig", **options)
    except UnicodeDecodeError:
        return pd.read_csv(path, encoding="cp1252", **options)


def site_mapping(raw_dir: Path) -> dict:
    """The extracts of the site mapping beside the deliveries (provmon.yaml, which the generator
    writes when some deliveries have a site's Danish headers and codes), read as plain YAML."""
    path = raw_dir / "provmon.yaml"
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")).get("extracts") or {}


def _folded(value: object) -> object:
    return " ".join(value.split()).lower() if isinstance(value, str) else value


def to_contract(frame: pd.DataFrame, site: dict) -> pd.DataFrame:
    """A delivery with a site's headers and code values in the contract's names and codes (an
    unknown value stays as delivered, to fail the contract's code rule); others unchanged."""
    names = {
        str(source).strip().lower(): column
        for column, sources in (site.get("columns") or {}).items()
        for source in ([sources] if isinstance(sources, str) else sources)
    }
    if not set(frame.columns) & set(names):
        return frame
    frame = frame.rename(columns=names)
    for column, values in (site.get("codes") or {}).items():
        if column in frame:
            lookup = {_folded(str(k)): v for k, v in values.items()}
            frame[column] = frame[column].map(lambda v, m=lookup: m.get(_folded(v), v))
    return frame


# --- parsing each column type -----------------------------------------------------------------


def _is_text(series: pd.Series) -> bool:
    """Text to parse (CSV, Excel), or values a Parquet file already typed."""
    if isinstance(series.dtype, pd.StringDtype):
        return True
    if series.dtype != object:
        return False
    first = series.first_valid_index()
    return first is None or isinstance(series[first], str)


def _stripped(series: pd.Series) -> pd.Series:
    if not _is_text(series):
        return series
    text = series.astype("str").str.strip(_STRIP)
    return text.mask(text == "")


def _invalid(text: pd.Series, value: pd.Series) -> pd.Series:
    """Given but not understood."""
    return text.notna() & value.isna()


def _dates_from_text(text: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    text = text.str.replace(r" 00:00:00$", "", regex=True)  # Excel dates read as text
    value = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    for fmt in formats:
        value = value.fillna(pd.to_datetime(text, format=fmt, errors="coerce"))
    return value


def _as_datetime(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series).astype("datetime64[us]")


def parse_date(text: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    if not _is_text(text):
        return _as_datetime(text), pd.Series(False, index=text.index)
    value = _dates_from_text(text, DATE_FORMATS)
    return value, _invalid(text, value)


def parse_month(text: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    """YYYY-MM, or the first day of the month written as a date."""
    if not _is_text(text):
        value = _as_datetime(text)
        return value.where(value.dt.day == 1), text.notna() & (value.dt.day != 1)
    value = _dates_from_text(text, ("%Y-%m",))
    first_day = _dates_from_text(text, ("%Y-%m-%d",))
    value = value.fillna(first_day.where(first_day.dt.day == 1))
    return value, _invalid(text, value)


def parse_week(text: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    """A Monday as a date, or an ISO week YYYY-Www (its Monday)."""
    if not _is_text(text):
        return parse_date(text, column)
    iso = text.str.upper().str.replace(r"^(\d{4})-?W(\d{1,2})$", r"\1-W\2-1", regex=True)
    value = pd.to_datetime(iso, format="%G-W%V-%u", errors="coerce").astype("datetime64[us]")
    value = value.fillna(_dates_from_text(text, DATE_FORMATS))
    return value, _invalid(text, value)


def _number(text: pd.Series) -> pd.Series:
    if not _is_text(text):
        return text.astype("float64")
    return pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")


def parse_decimal(text: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    value = _number(text)
    return value, _invalid(text, value)


def parse_int(text: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    value = _number(text)
    value = value.where(value == value.round())
    return value.astype("Int64"), _invalid(text, value)


def parse_code(text: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    """A code of the contract's list, lower-case, as a pandas category of exactly that list (so
    that deliveries concatenate without turning it back into text)."""
    value = text.str.lower()
    value = value.where(value.isin(column.codes or []))
    return value.astype(pd.CategoricalDtype(column.codes)), _invalid(text, value)


def parse_text(text: pd.Series, column: Column) -> tuple[pd.Series, pd.Series]:
    if column.pattern:
        return text, text.notna() & ~text.astype("str").str.fullmatch(column.pattern).fillna(False)
    return text, pd.Series(False, index=text.index)


def parse_cpr(text: pd.Series) -> pd.DataFrame:
    """The CPR rules of raw-extracts.md, on each distinct value once: ten digits (a hyphen after
    the sixth allowed) whose first six are a real date DDMMYY, day 61-91 a replacement number
    (day + 60); century from the seventh digit; sex from the last. Modulus 11 is not checked.
    Returns the person id (the digits as a number, NA when invalid), birth_date and sex."""
    codes, uniques = pd.factorize(text.astype("str"))
    digits = pd.Series(uniques, dtype="str").str.replace(_CPR, r"\1\2", regex=True)
    digits = digits.where(digits.str.fullmatch(r"\d{10}").fillna(False))
    day, month, yy = (pd.to_numeric(digits.str[a:b]) for a, b in ((0, 2), (2, 4), (4, 6)))
    digit7 = pd.to_numeric(digits.str[6])
    day = day.where(~day.between(61, 91), day - 60)
    century = np.select(
        [digit7 <= 3, digit7.isin([4, 9]), digit7.between(5, 8)],
        [1900, np.where(yy <= 36, 2000, 1900), np.where(yy <= 57, 2000, 1800)],
        default=np.nan,
    )
    born = pd.to_datetime(
        pd.DataFrame({"year": century + yy, "month": month, "day": day}), errors="coerce"
    ).astype("datetime64[us]")
    valid = born.notna()
    odd = pd.to_numeric(digits.str[9]) % 2 == 1
    per_value = pd.DataFrame(
        {
            PERSON: pd.to_numeric(digits.where(valid)).astype("Int64"),
            "birth_date": born,
            "sex": pd.Series(np.where(odd, "M", "F"), dtype="str").where(valid),
        }
    )
    # factorize gives -1 for a missing CPR: those rows take an all-missing row at the end
    per_value = pd.concat([per_value, per_value.iloc[:0].reindex([len(per_value)])])
    out = per_value.iloc[np.where(codes < 0, len(per_value) - 1, codes)]
    return out.set_axis(text.index)


PARSERS: dict[str, Parser] = {
    "text": parse_text,
    "code": parse_code,
    "int": parse_int,
    "decimal": parse_decimal,
    "date": parse_date,
    "month": parse_month,
    "week": parse_week,
}


# --- rows and deliveries ----------------------------------------------------------------------


def parse_rows(frame: pd.DataFrame, extract: Extract) -> pd.DataFrame:
    """The rows that keep every rule of the contract, typed; the rest are left out (the
    pipeline quarantines them). A CPR column becomes `cpr` (the person id), `birth_date`, `sex`."""
    texts = {
        name: _stripped(frame[name]) if name in frame else pd.Series(pd.NA, index=frame.index, dtype="str")
        for name in extract.columns
    }
    values: dict[str, pd.Series] = {}
    bad = pd.Series(False, index=frame.index)
    for name, column in extract.columns.items():
        text = texts[name]
        if column.required:
            bad |= text.isna()
        if column.type == "cpr":
            persons = parse_cpr(text)
            bad |= text.notna() & persons[PERSON].isna()
            values.update({c: persons[c] for c in persons})
            continue
        values[name], invalid = PARSERS[column.type](text, column)
        bad |= invalid
    for column in extract.columns.values():
        bad |= _breaks_rule(column, values, texts)
    typed = pd.DataFrame(values, index=frame.index)
    return typed[~bad.to_numpy(dtype=bool)]


def _breaks_rule(column: Column, values: dict[str, pd.Series], texts: dict[str, pd.Series]) -> pd.Series:
    """The row rules on one column (bounds, order against another column, required-if-set,
    Monday); a comparison with a missing value breaks nothing."""
    value = values.get(column.name)
    broken = pd.Series(False, index=texts[column.name].index)
    if value is None:
        return broken
    checks = [
        (column.min, lambda b: value < b),
        (column.min_exclusive, lambda b: value <= b),
        (column.max, lambda b: value > b),
        (column.not_before, lambda other: value < values[other]),
        (column.not_above, lambda other: value > values[other]),
    ]
    for bound, check in checks:
        if bound is not None:
            broken |= check(bound).fillna(False).astype(bool)
    if column.required_if_set:
        broken |= texts[column.name].isna() & texts[column.required_if_set].notna()
    if column.type == "week" or column.weekday == "monday":
        broken |= (value.dt.day_of_week != 0).where(value.notna(), False).astype(bool)
    return broken


def key_columns(extract: Extract) -> list[str]:
    return [PERSON if extract.columns[k].type == "cpr" else k for k in extract.key]


def read_extract(raw_dir: Path, extract: str, person_details: bool = True) -> pd.DataFrame:
    """Every delivery of an extract, bad rows left out, one row per business key: within a file
    the first row of a key counts (a repeat is an error in the file), across files the newest
    delivery wins (corrections and late end dates arrive that way). `_delivery_date` is kept;
    birth date and sex from the CPR only with `person_details`."""
    spec = load_contract().extracts[extract]
    keys = key_columns(spec)
    site = site_mapping(raw_dir).get(extract) or {}
    frames = []
    for delivered, path in deliveries(raw_dir, extract):
        rows = parse_rows(to_contract(read_file(path), site), spec).drop_duplicates(subset=keys, keep="first")
        if not person_details:
            rows = rows.drop(columns=["birth_date", "sex"], errors="ignore")
        frames.append(rows.assign(_delivery_date=pd.Timestamp(delivered)))
    if not frames:
        raise FileNotFoundError(f"no {extract} deliveries in {raw_dir / extract}")
    everything = pd.concat(frames, ignore_index=True)
    return everything.drop_duplicates(subset=keys, keep="last").reset_index(drop=True)


def read_all(raw_dir: Path, person_details_of: tuple[str, ...] = ()) -> dict[str, pd.DataFrame]:
    """Every extract of the contract, read as above; birth date and sex kept for the extracts
    named in person_details_of."""
    extracts = {}
    for name in load_contract().extracts:
        extracts[name] = read_extract(raw_dir, name, person_details=name in person_details_of)
        log.info("read %s: %d rows", name, len(extracts[name]))
    return extracts
