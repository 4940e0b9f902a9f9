"""The site mapping (provmon.yaml): how one administration's extracts differ from the input
contract (column names, code values, file names, date and number formats), applied when a
delivery is read, before pseudonymisation and checks (docs/site-mapping.md).

A site's systems deliver Danish headers ("CPR-nr.", "Startdato") and their own code values
("Sygedagpenge"); without a mapping every delivery would have to be rewritten by hand each
month. The mapping turns a delivery's text table into the contract's form in one SQL view:
columns renamed, codes replaced through a join with a small table, formats normalised. A
source value the mapping does not know is left as delivered, so the contract's code check
quarantines the row with the value and the mapping key to add: nothing is guessed.

The file is validated on load against the contract, one line per mistake naming the extract,
key and value. Its sha256 is its version; meta.loads records it for every file it was applied
to, so a changed mapping is traceable."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

import duckdb
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from pipeline.contract import Column, Contract, Extract, load_contract
from pipeline.cpr import scrub
from pipeline.errors import ConfigError, UnreadableFileError
from pipeline.ingest.deliveries import FORMATS, Delivery, Misnamed, dated
from pipeline.ingest.dialects import ROW_NUMBER, RawTable
from pipeline.settings import SITE_MAPPING_FILE
from pipeline.sql import ident, literal

EXAMPLE_FILE = Path(__file__).parents[1] / "contract" / "site-mapping.example.yaml"
_DATE_TYPES = ("date", "week", "month")
_NUMBER_TYPES = ("int", "decimal")
_PLACEHOLDERS = {"{YYYY}": r"(?P<year>\d{4})", "{MM}": r"(?P<month>\d{2})", "{DD}": r"(?P<day>\d{2})"}
# Whitespace of a source value, for the case- and space-insensitive comparison: SQL and Python
# must agree (the no-break space spreadsheets leave behind included).
_SPACE_SQL = r"'[\s\x{00A0}]+'"


def normal_header(name: str) -> str:
    """A header name as ingestion compares it (dialects.normalise_header): lower case, trimmed."""
    return name.replace("\ufeff", "").strip().lower()


def normal_value(value: str) -> str:
    """A source code value as the mapping compares it: lower case, runs of spaces as one."""
    return " ".join(value.replace("\xa0", " ").split()).lower()


def _normal_value_sql(sql: str) -> str:
    """normal_value in SQL, for the distinct values of a delivered column."""
    return f"lower(trim(regexp_replace({sql}, {_SPACE_SQL}, ' ', 'g')))"


# --- the file's shape (pydantic) ----------------------------------------------------------------


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _as_format(value: object) -> object:
    return {"date": value} if isinstance(value, str) else value


class Format(BaseModel):
    """A date format (strftime codes) or a number format of one contract column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    date: str | None = Field(None, min_length=2)
    decimal: str | None = Field(None, pattern=r"^[.,]$")
    thousands: str | None = Field(None, pattern=r"^[., ']$")

    @model_validator(mode="after")
    def _one_kind(self) -> Format:
        if (self.date is None) == (self.decimal is None and self.thousands is None):
            raise ValueError("give either a date format or a number format (decimal, thousands)")
        if self.decimal and self.decimal == self.thousands:
            raise ValueError(f"decimal and thousands separator are both '{self.decimal}'")
        return self


SourceNames = Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_as_list)]
ColumnFormat = Annotated[Format, BeforeValidator(_as_format)]


class ExtractMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    files: list[Annotated[str, Field(min_length=1)]] = []
    columns: dict[str, SourceNames] = {}
    codes: dict[str, dict[str, str]] = {}
    formats: dict[str, ColumnFormat] = {}


class MappingModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shared: Any = None  # a place for YAML anchors; read only through `extracts`
    extracts: dict[str, ExtractMapping] = {}


# --- the rules of one extract, ready to apply ------------------------------------------------------


@dataclass(frozen=True)
class ExtractRules:
    """An extract's mapping with names and values normalised for comparison."""

    name: str
    sources: dict[str, str]  # normalised source header -> contract column
    headers: dict[str, str]  # contract column -> its first source header as written
    codes: dict[str, dict[str, str]]  # contract column -> normalised source value -> code
    code_texts: dict[str, dict[str, str]]  # contract column -> code -> first source value
    formats: dict[str, Format]
    files: tuple[str, ...]  # file-name patterns as written
    patterns: tuple[re.Pattern[str], ...]  # ... and compiled

    @property
    def everywhere(self) -> bool:
        """Without headers or file names to recognise its files by, an extract's code maps and
        formats apply to each of its files."""
        return not self.sources and not self.patterns


@dataclass(frozen=True)
class SiteMapping:
    """A validated site mapping. `version` is the sha256 of the file's bytes."""

    path: Path
    version: str
    extracts: dict[str, ExtractRules] = field(default_factory=dict)

    @property
    def short_version(self) -> str:
        return self.version[:12]

    # --- file names ---------------------------------------------------------------------------

    def delivery(
        self, path: Path, raw_dir: Path, latest: dt.date | None = None
    ) -> Delivery | Misnamed | None:
        """The delivery a file named by its source system is (a file-name pattern of the
        mapping), at the top of the raw folder or in its extract's folder; None when no
        pattern fits (the contract's naming rule then decides)."""
        relative = path.relative_to(raw_dir)
        if any(part.startswith(".") for part in relative.parts):
            return None
        for rules in self.extracts.values():
            for pattern in rules.patterns:
                m = pattern.fullmatch(path.name)
                ext = path.suffix.lower().lstrip(".")
                if m is None or ext not in FORMATS:
                    continue
                try:
                    day = dt.date(int(m["year"]), int(m["month"]), int(m["day"]))
                except ValueError:
                    continue  # not a date: the contract's naming rule then refuses the file
                if len(relative.parts) > 1 and relative.parts[:-1] != (rules.name,):
                    where = relative.parent.as_posix()
                    return Misnamed(
                        path,
                        rules.name,
                        f"a {rules.name} delivery sits in {where}/; move it to {rules.name}/",
                    )
                return dated(path, rules.name, day, ext, latest)
        return None

    def names(self, extract: str, path: Path) -> bool:
        rules = self.extracts.get(extract)
        return bool(rules) and any(p.fullmatch(path.name) for p in rules.patterns)

    # --- applying it to a delivery --------------------------------------------------------------

    def apply(
        self, con: duckdb.DuckDBPyConnection, delivery: Delivery, raw: RawTable
    ) -> tuple[RawTable, str | None]:
        """The delivery's text table in the contract's form (a view over `raw`), and the
        mapping's version; `raw` itself and None when the mapping does not concern the file.

        Raises UnreadableFileError when two delivered columns give the same contract column."""
        rules = self.extracts.get(delivery.extract)
        if rules is None:
            return raw, None
        renamed = {c: rules.sources[c] for c in raw.columns if c in rules.sources}
        if not (renamed or rules.everywhere or self.names(delivery.extract, delivery.path)):
            return raw, None
        targets = [renamed.get(c, c) for c in raw.columns]
        _refuse_clashes(raw.columns, targets, rules)
        spec = load_contract().extracts[delivery.extract]
        view = f"{raw.relation}_mapped"
        selects = [f"r.{ROW_NUMBER}"]
        joins = []
        for i, (source, target) in enumerate(zip(raw.columns, targets, strict=True)):
            value = f"r.{ident(source)}"
            column = spec.columns.get(target)
            if column is not None and target in rules.codes:
                joins.append(_code_join(f"m{i}", raw.relation, source, rules.codes[target]))
                value = f"coalesce(m{i}.code, {value})"
            elif column is not None and target in rules.formats:
                value = _formatted(value, column, rules.formats[target])
            selects.append(f"{value} AS {ident(target)}")
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {ident(view)} AS SELECT {', '.join(selects)} "
            f"FROM {ident(raw.relation)} r {' '.join(joins)}"
        )
        _require_columns(spec, targets, rules, raw.columns)
        mapped = replace(
            raw,
            relation=view,
            columns=targets,
            dialect=f"{raw.dialect}, site mapping {self.short_version}",
            text_objects=(("VIEW", view), *raw.text_objects),
        )
        return mapped, self.version


def _refuse_clashes(columns: list[str], targets: list[str], rules: ExtractRules) -> None:
    """Two delivered columns that would both become one contract column: which one is meant
    cannot be known, so the file is refused."""
    seen: dict[str, str] = {}
    for source, target in zip(columns, targets, strict=True):
        if target in seen:
            raise UnreadableFileError(
                scrub(
                    f"the columns '{seen[target]}' and '{source}' both give {target} (site mapping "
                    f"extracts.{rules.name}.columns.{target}): deliver only one of them"
                )
            )
        seen[target] = source


def _require_columns(spec: Extract, targets: list[str], rules: ExtractRules, found: list[str]) -> None:
    """Refuse a mapped file without a required column, naming the header the mapping expects."""
    missing = [c for c in spec.required_columns if c not in targets]
    if not missing:
        return
    expected = ", ".join(f"{c} ('{rules.headers[c]}')" if c in rules.headers else c for c in missing)
    shown = ", ".join(found[:15]) + (" …" if len(found) > 15 else "")
    plural = "s" if len(missing) > 1 else ""
    raise UnreadableFileError(
        scrub(
            f"required column{plural} {expected} missing (found: {shown}); add the header to "
            f"extracts.{rules.name}.columns in the site mapping if the file names it otherwise"
        )
    )


def _code_join(alias: str, relation: str, source: str, codes: dict[str, str]) -> str:
    """LEFT JOIN of a delivered code column's distinct values to the contract codes they map
    to: normalising and matching happens once per distinct value, not once per row."""
    values = ", ".join(f"({literal(k)}, {literal(v)})" for k, v in codes.items())
    distinct = (
        f"SELECT DISTINCT {ident(source)} AS raw FROM {ident(relation)} WHERE {ident(source)} IS NOT NULL"
    )
    return (
        f"LEFT JOIN (SELECT d.raw, c.code FROM ({distinct}) d JOIN (VALUES {values}) c(source, code) "
        f"ON c.source = {_normal_value_sql('d.raw')}) {alias} ON {alias}.raw = r.{ident(source)}"
    )


def _formatted(value: str, column: Column, fmt: Format) -> str:
    """SQL turning a value of the site's format into the contract's; a value that does not fit
    the format is left as delivered, so the contract's check quarantines it with its text."""
    text = f"trim({value})"
    if fmt.date:
        out = "%Y-%m" if column.type == "month" else "%Y-%m-%d"
        return f"coalesce(strftime(try_strptime({text}, {literal(fmt.date)}), {literal(out)}), {value})"
    thousands = re.escape(fmt.thousands or "")
    decimal = re.escape(fmt.decimal or ".")
    grouped = rf"[+-]?[0-9]{{1,3}}({thousands}[0-9]{{3}})+({decimal}[0-9]+)?" if thousands else None
    plain = rf"[+-]?[0-9]+({decimal}[0-9]+)?"
    shape = f"{grouped}|{plain}" if grouped else plain
    number = text
    if fmt.thousands:
        number = f"replace({number}, {literal(fmt.thousands)}, '')"
    number = f"replace({number}, {literal(fmt.decimal or '.')}, '.')"
    return f"CASE WHEN regexp_full_match({text}, {literal(shape)}) THEN {number} ELSE {value} END"


# --- loading and validating -----------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (plain YAML keeps the last,
    which would silently drop a column or code)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise ConfigError(f"line {line}: the key '{scrub(str(key))}' is given twice")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_mapping(path: Path) -> SiteMapping:
    """The mapping file, validated against the contract. A broken file is a ConfigError with
    one line per mistake, each naming the extract, key and value."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"site mapping {path}: cannot be read ({exc.strerror})") from exc
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=_UniqueKeyLoader) or {}
    except ConfigError as exc:
        raise ConfigError(f"site mapping {path}: {exc}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"site mapping {path}: not YAML in UTF-8 ({scrub(first)})") from exc
    try:
        model = MappingModel.model_validate(raw)
    except ValidationError as exc:
        raise _invalid(path, [_pydantic_line(e) for e in exc.errors()]) from exc
    contract = load_contract()
    mistakes = list(_contract_mistakes(model, contract))
    if mistakes:
        raise _invalid(path, mistakes)
    rules = {name: _rules(name, m, contract.extracts[name]) for name, m in model.extracts.items()}
    return SiteMapping(path=path, version=hashlib.sha256(data).hexdigest(), extracts=rules)


def _invalid(path: Path, mistakes: list[str]) -> ConfigError:
    return ConfigError("\n".join(scrub(f"site mapping {path}: {m}") for m in mistakes))


def _pydantic_line(error: dict) -> str:
    where = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    value = error.get("input")
    shown = f" (found: {value!r})" if isinstance(value, str | int | float | bool) or value is None else ""
    return f"{where}: {error['msg'].removeprefix('Value error, ')}{shown}"


def _contract_mistakes(model: MappingModel, contract: Contract) -> Iterable[str]:
    """Everything the mapping says that does not fit the contract, one sentence each."""
    patterns: dict[str, str] = {}
    for name, mapping in model.extracts.items():
        if name not in contract.extracts:
            yield f"extracts.{name}: '{name}' is not an extract (extracts: {', '.join(contract.extracts)})"
            continue
        spec = contract.extracts[name]
        where = f"extracts.{name}"
        yield from _column_mistakes(where, spec, mapping)
        yield from _code_mistakes(where, spec, mapping)
        yield from _format_mistakes(where, spec, mapping)
        for pattern in mapping.files:
            problem = _pattern_problem(pattern)
            if problem:
                yield f"{where}.files: '{pattern}' {problem}"
            elif pattern in patterns:
                yield f"{where}.files: '{pattern}' is already a file pattern of {patterns[pattern]}"
            patterns[pattern] = name


def _unknown_column(where: str, column: str, spec: Extract) -> str:
    return f"{where}: '{column}' is not a column of {spec.name} (columns: {', '.join(spec.columns)})"


def _column_mistakes(where: str, spec: Extract, mapping: ExtractMapping) -> Iterable[str]:
    sources: dict[str, str] = {}
    for column, names in mapping.columns.items():
        if column not in spec.columns:
            yield _unknown_column(f"{where}.columns.{column}", column, spec)
            continue
        if not names:
            yield f"{where}.columns.{column}: no source column given"
        for source in names:
            key = normal_header(source)
            if not key:
                yield f"{where}.columns.{column}: an empty source column name"
            elif key in sources:
                other = sources[key]
                again = "twice" if other == column else f"already for {other}"
                yield f"{where}.columns.{column}: source column '{source}' is given {again}"
            sources[key] = column


def _code_mistakes(where: str, spec: Extract, mapping: ExtractMapping) -> Iterable[str]:
    for column, values in mapping.codes.items():
        at = f"{where}.codes.{column}"
        if column not in spec.columns:
            yield _unknown_column(at, column, spec)
            continue
        col = spec.columns[column]
        if col.type != "code":
            yield f"{at}: {column} is a {col.type} column; codes are mapped only for code columns"
            continue
        allowed = [c.lower() for c in col.codes or []]
        seen: dict[str, str] = {}
        for source, code in values.items():
            key = normal_value(str(source))
            if not key:
                yield f"{at}: an empty source value"
            elif key in seen:
                yield f"{at}.{source}: the source value is given twice (also as '{seen[key]}')"
            elif code.lower() not in allowed:
                yield f"{at}.{source}: '{code}' is not a code of {column} (codes: {', '.join(allowed)})"
            seen[key] = str(source)


def _format_mistakes(where: str, spec: Extract, mapping: ExtractMapping) -> Iterable[str]:
    for column, fmt in mapping.formats.items():
        at = f"{where}.formats.{column}"
        if column not in spec.columns:
            yield _unknown_column(at, column, spec)
            continue
        kind = spec.columns[column].type
        if fmt.date is not None and kind not in _DATE_TYPES:
            yield f"{at}: '{fmt.date}' is a date format but {column} is a {kind} column"
        elif fmt.date is None and kind not in _NUMBER_TYPES:
            yield f"{at}: a number format but {column} is a {kind} column"
        elif fmt.date is not None and not _date_format_works(fmt.date, kind):
            yield f"{at}: '{fmt.date}' does not write and read back a date (use %d, %m and %Y)"


def _date_format_works(fmt: str, kind: str) -> bool:
    """Whether a date written in the format reads back as the same date (month: year and month)."""
    day = dt.date(2024, 11, 28)
    try:
        back = dt.datetime.strptime(day.strftime(fmt), fmt).date()
    except ValueError:
        return False
    return back == day or (kind == "month" and (back.year, back.month) == (day.year, day.month))


def _pattern_problem(pattern: str) -> str | None:
    if "/" in pattern or "\\" in pattern:
        return "is a path; give a file name only"
    missing = [p for p in _PLACEHOLDERS if p not in pattern]
    if missing:
        return f"lacks {', '.join(missing)} (the delivery date comes from the file name)"
    return None


def _compile(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\{YYYY\}|\{MM\}|\{DD\}|\*)", pattern)
    regex = "".join(_PLACEHOLDERS.get(part) or (".*" if part == "*" else re.escape(part)) for part in parts)
    return re.compile(regex, re.IGNORECASE)


def _rules(name: str, mapping: ExtractMapping, spec: Extract) -> ExtractRules:
    codes: dict[str, dict[str, str]] = {}
    code_texts: dict[str, dict[str, str]] = {}
    for column, values in mapping.codes.items():
        codes[column] = {normal_value(str(k)): v.lower() for k, v in values.items()}
        code_texts[column] = {}
        for source, code in values.items():
            code_texts[column].setdefault(code.lower(), str(source))
    return ExtractRules(
        name=name,
        sources={normal_header(s): column for column, names in mapping.columns.items() for s in names},
        headers={column: names[0] for column, names in mapping.columns.items() if names},
        codes=codes,
        code_texts=code_texts,
        formats=dict(mapping.formats),
        files=tuple(mapping.files),
        patterns=tuple(_compile(p) for p in mapping.files),
    )


def find_mapping(raw_dir: Path, explicit: Path | None = None) -> SiteMapping | None:
    """The site mapping of an ingest run: the file given (--config), else `provmon.yaml` in the
    raw folder (it travels with the deliveries: the generator writes one there), else
    `provmon.yaml` in the working directory (the repository root); None without any."""
    if explicit is not None:
        if not Path(explicit).is_file():
            raise ConfigError(f"the site mapping {explicit} does not exist (--config)")
        return load_mapping(Path(explicit))
    for candidate in (Path(raw_dir) / SITE_MAPPING_FILE, Path(SITE_MAPPING_FILE)):
        if candidate.is_file():
            return load_mapping(candidate)
    return None
