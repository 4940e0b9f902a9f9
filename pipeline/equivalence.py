"""Are two output trees of `provmon run` the same? The check behind a refactoring that must not
change a number (issue 15): the Parquet marts and decision tables row for row and bit for bit,
the report pages as text, the workbooks cell for cell.

A tree is whatever folder holds a run's outputs (the warehouse's folder with `marts/`, and the
`--out-dir` of the reports); files are paired by their path inside it. Rows are put in the order
of each mart's grain, as its grain test in the dbt project states it, so that two builds that
write the same rows in another order are equal; a table without a declared grain is ordered by
all its columns. What differs between two honest runs of the same data is not compared: the
warehouse file itself, dbt's logs and Great Expectations' result store; in text the run number,
the time and day of each step, the day a report was made, the ids a notebook gives its cells and
plotly its charts, and the two trees' own paths; in tables the time a decision was computed."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml

from pipeline.build import PROJECT_DIR
from pipeline.errors import ProvmonError

# Data tests that state a model's grain: one row per key, per combination of columns, or one row.
GRAIN_TESTS = ("unique", "unique_combination", "exactly_one_row")
# Files of a run that are not its outputs: the warehouse (its tables are exported as Parquet),
# logs, and Great Expectations' own result store (filed by the time of the run; the quality page
# shows the same results). Hidden files and folders (locks, a killed build's staging folder) are
# left out too.
SKIPPED_SUFFIXES = (".duckdb", ".wal", ".log")
SKIPPED_FOLDERS = ("logs", "validations")
TEXT_SUFFIXES = (".html", ".json", ".js", ".css", ".csv", ".txt", ".md", ".svg", ".yaml", ".yml")
# Text that differs between two runs of the same data: (pattern, what stands in its place).
VOLATILE = (
    # the quality page: "Kørsel 12 05.12.2026 kl. 14.03"
    (re.compile(r"Kørsel \d+( \d{2}\.\d{2}\.\d{4} kl\. \d{2}\.\d{2})?"), "Kørsel <kørsel>"),
    # the index: "Dannet 5. december 2026"
    (re.compile(r"Dannet \d{1,2}\. [a-zæøå]+ \d{4}"), "Dannet <dato>"),
    # the run log in a report: "<td>gennemført</td><td>05.12.2026</td>"
    (re.compile(r"(gennemført|fejlede|i gang)</td><td>\d{2}\.\d{2}\.\d{4}"), r"\1</td><td><dato>"),
    # the ids of a notebook's cells in its HTML export (random per run)
    (re.compile(r'id="cell-id=[0-9a-f]+"'), 'id="cell-id=<id>"'),
    # the ids plotly gives each chart's element (uuid4)
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<id>"),
    # timestamps in manifests and metadata
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:?\d{2}|Z)?"), "<tidspunkt>"),
)
# Columns that hold the time a step ran (the decision tables' computed_at): their type is
# compared, their values are not.
VOLATILE_COLUMNS = ("computed_at",)
# How many differing rows, cells or lines one file reports before "and N more".
MAX_SHOWN = 5


class CompareError(ProvmonError):
    """A tree to compare is missing."""


@dataclass(frozen=True)
class Difference:
    path: str  # inside the trees
    what: str  # one line

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


# --- grains, from the dbt project -------------------------------------------------------------


def data_test_name(test: str | dict) -> str:
    return test if isinstance(test, str) else next(iter(test))


def declared_grain(model: dict) -> list[str] | None:
    """The columns of a model's grain test in its yml entry ([] for one row), None without one."""
    for test in model.get("data_tests", []):
        name = data_test_name(test)
        if name == "exactly_one_row":
            return []
        if name == "unique_combination":
            return list(test[name]["arguments"]["columns"])
    for column in model.get("columns", []):
        if "unique" in map(data_test_name, column.get("data_tests", [])):
            return [column["name"]]
    return None


def model_grains(project_dir: Path) -> dict[str, list[str]]:
    """Every model's grain, by model name (= the Parquet file's name), from the project's ymls."""
    grains = {}
    for path in sorted((project_dir / "models").rglob("_*__models.yml")):
        with open(path, encoding="utf-8") as fh:
            for model in (yaml.safe_load(fh) or {}).get("models", []):
                grain = declared_grain(model)
                if grain is not None:
                    grains[model["name"]] = grain
    return grains


# --- the trees --------------------------------------------------------------------------------


def output_files(root: Path) -> set[str]:
    """The outputs below root, as paths inside it."""
    found = set()
    for path in root.rglob("*"):
        inside = path.relative_to(root)
        if not path.is_file() or any(part.startswith(".") for part in inside.parts):
            continue
        if path.name.endswith(SKIPPED_SUFFIXES) or any(p in SKIPPED_FOLDERS for p in inside.parts[:-1]):
            continue
        found.add(inside.as_posix())
    return found


def compare_trees(before: Path, after: Path, grains: dict[str, list[str]]) -> Iterator[Difference]:
    """Every difference between the outputs of two runs, file by file in path order."""
    for root in (before, after):
        if not root.is_dir():
            raise CompareError(f"no such folder: {root}")
    ours, theirs = output_files(before), output_files(after)
    for name in sorted(ours - theirs):
        yield Difference(name, f"only in {before}")
    for name in sorted(theirs - ours):
        yield Difference(name, f"only in {after}")
    for name in sorted(ours & theirs):
        for what in compare_file(before / name, after / name, grains, (before, after)):
            yield Difference(name, what)


def compare_file(a: Path, b: Path, grains: dict[str, list[str]], roots: tuple[Path, Path]) -> list[str]:
    suffix = a.suffix.lower()
    if suffix == ".parquet":
        return compare_parquet(a, b, grains.get(a.stem, []))
    if suffix == ".xlsx":
        return compare_workbooks(a, b, roots)
    if suffix in TEXT_SUFFIXES:
        return compare_text(
            normalise(a.read_text(encoding="utf-8"), roots[0]),
            normalise(b.read_text(encoding="utf-8"), roots[1]),
        )
    return [] if a.read_bytes() == b.read_bytes() else ["the bytes differ"]


# --- tables -----------------------------------------------------------------------------------


def in_grain_order(frame: pd.DataFrame, grain: list[str]) -> pd.DataFrame:
    """The rows ordered by the grain, then by every other column: a total order whenever the
    rows differ, so equal tables line up row for row however they were written."""
    columns = [c for c in grain if c in frame.columns] + [c for c in frame.columns if c not in grain]
    keys = pd.DataFrame({c: frame[c].map(repr) if frame[c].dtype == object else frame[c] for c in columns})
    order = keys.sort_values(columns, kind="mergesort", na_position="last").index if columns else keys.index
    return frame.loc[order].reset_index(drop=True)


def same_values(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Row by row: the same value to the bit (a float's bits, NaN equal to NaN, -0.0 not 0.0)."""
    if a.dtype.kind == "f":
        left, right = (s.to_numpy(dtype=np.float64, na_value=np.nan) for s in (a, b))
        return (left.view(np.uint64) == right.view(np.uint64)) | (np.isnan(left) & np.isnan(right))
    if a.dtype == object:
        return (a.map(repr) == b.map(repr)).to_numpy()
    both_null = (a.isna() & b.isna()).to_numpy()
    return both_null | (a == b).fillna(False).to_numpy(dtype=bool)


def shown(value: object) -> str:
    """A value as Python writes it (0.25000000000000006, not np.float64(...))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def compare_parquet(a: Path, b: Path, grain: list[str]) -> list[str]:
    schema_a, schema_b = pq.read_schema(a).remove_metadata(), pq.read_schema(b).remove_metadata()
    if schema_a != schema_b:
        changed = [
            f"{name} {schema_a.field(name).type if name in schema_a.names else '-'} -> "
            f"{schema_b.field(name).type if name in schema_b.names else '-'}"
            for name in dict.fromkeys([*schema_a.names, *schema_b.names])
            if name not in schema_a.names
            or name not in schema_b.names
            or schema_a.field(name).type != schema_b.field(name).type
        ]
        return [f"columns differ: {', '.join(changed) or 'the order'}"]
    left, right = (
        in_grain_order(pd.read_parquet(p).drop(columns=list(VOLATILE_COLUMNS), errors="ignore"), grain)
        for p in (a, b)
    )
    if len(left) != len(right):
        return [f"{len(left)} rows -> {len(right)} rows"]
    found = []
    for column in left.columns:
        differs = ~same_values(left[column], right[column])
        for row in np.flatnonzero(differs)[:MAX_SHOWN]:
            key = ", ".join(f"{c}={shown(left.at[row, c])}" for c in grain) or f"row {row}"
            was, now = shown(left.at[row, column]), shown(right.at[row, column])
            found.append(f"{column} at {key}: {was} -> {now}")
        if differs.sum() > MAX_SHOWN:
            found.append(f"{column}: and {int(differs.sum()) - MAX_SHOWN} more rows")
    return found


# --- text and workbooks -----------------------------------------------------------------------


def normalise(text: str, root: Path) -> str:
    """The text without what differs between two runs of the same data."""
    text = text.replace(str(root.resolve()), "<tree>").replace(str(root), "<tree>")
    for pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


def compare_text(a: str, b: str) -> list[str]:
    if a == b:
        return []
    changed = [
        line
        for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    shown = [f"{line[:1]} {line[1:200]}" for line in changed[: 2 * MAX_SHOWN]]
    more = len(changed) - len(shown)
    return shown + ([f"and {more} more changed lines"] if more > 0 else [])


def workbook_cells(path: Path, root: Path) -> dict[tuple[str, str], str]:
    """Every non-empty cell of a workbook, by sheet and coordinate, as normalised text."""
    from openpyxl import load_workbook

    cells = {}
    book = load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    if cell.value is not None:
                        value = cell.value if isinstance(cell.value, str) else repr(cell.value)
                        cells[(sheet.title, cell.coordinate)] = normalise(value, root)
    finally:
        book.close()
    return cells


def compare_workbooks(a: Path, b: Path, roots: tuple[Path, Path]) -> list[str]:
    left, right = workbook_cells(a, roots[0]), workbook_cells(b, roots[1])
    differing = [key for key in sorted(left.keys() | right.keys()) if left.get(key) != right.get(key)]
    found = [
        f"{sheet}!{cell}: {left.get((sheet, cell))!r} -> {right.get((sheet, cell))!r}"
        for sheet, cell in differing[:MAX_SHOWN]
    ]
    if len(differing) > MAX_SHOWN:
        found.append(f"and {len(differing) - MAX_SHOWN} more cells")
    return found


# --- the command (scripts/compare_outputs.py) ---------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Print every difference and a summary line; 0 when equal, 1 when not, 2 on a bad folder."""
    parser = argparse.ArgumentParser(
        prog="compare_outputs", description="Compare the outputs of two `provmon run`s."
    )
    parser.add_argument("before", type=Path, help="folder of the first run's outputs")
    parser.add_argument("after", type=Path, help="folder of the second run's outputs")
    args = parser.parse_args(argv)
    try:
        differences = list(compare_trees(args.before, args.after, model_grains(PROJECT_DIR)))
    except CompareError as error:
        print(f"compare_outputs: error: {error}", file=sys.stderr)
        return 2
    for difference in differences:
        print(difference)
    files = len(output_files(args.before) | output_files(args.after))
    if differences:
        changed = len({d.path for d in differences})
        print(f"compare_outputs: {len(differences)} differences in {changed} of {files} files")
        return 1
    print(f"compare_outputs: equal ({files} files)")
    return 0
