"""Reading one delivery (CSV in any accepted dialect, .xlsx or Parquet) into an in-memory
DuckDB table of text columns, named by the header in lower case.

Everything is read as text, whatever the format: typing and checking is one SQL step for all
formats (rows.py), so that a value means the same whether it came from Excel or a CSV export.
The table lives in the in-memory connection only; it still holds the clear CPR."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from pipeline.cpr import scrub
from pipeline.errors import UnreadableFileError
from pipeline.ingest.config import load_config
from pipeline.ingest.deliveries import Delivery
from pipeline.sql import ident, literal

ROW_NUMBER = "_row_number"
_SAMPLE_BYTES = 1 << 16
_CHUNK = 1 << 20
_XLSX_CHUNK = 50_000
_BYTES_PER_ROW = 40  # a short register row in CSV; a workbook row is no smaller
_SEP_LINE = re.compile(r"^sep=(.)$", re.IGNORECASE)
_UTF8_BOM = codecs.BOM_UTF8
_NOT_CONTINUATION = bytes(b for b in range(256) if not 0x80 <= b <= 0xBF)  # to delete
# Why DuckDB rejected a CSV row, as a sentence a person can act on; {found}/{expected} are
# field counts.
_REJECT_REASONS = {
    "TOO MANY COLUMNS": "the row has {found} fields but the header has {expected}: "
    "is a value containing the separator not in quotes?",
    "MISSING COLUMNS": "the row has only {found} fields but the header has {expected}: "
    "is a line break inside a value not in quotes?",
    "UNQUOTED VALUE": "a quote is not closed: quote the whole value and double any quote inside it",
    "RUNAWAY QUOTE": "a quote opened in this line is not closed in it: quote the whole value and double "
    "any quote inside it, or remove the stray quote (the lines after it were read on their own)",
    "INVALID ENCODING": "the line is not in UTF-8 like the rest of the file (Windows-1252?), so its "
    "letters cannot be read: save the whole file in one encoding",
    "NUL BYTE": "the value holds a NUL byte (a binary zero), which is no text: the export is damaged; "
    "export the file again",
}


@dataclass(frozen=True)
class RawTable:
    """A delivery read as text: `relation` (in-memory table or view) has _row_number (1 = the
    first row after the header) and one VARCHAR column per header name, lower-cased; rows
    whose fields could not be split (CSV only) are in `rejects` (_row_number, reason, line)."""

    relation: str
    columns: list[str]
    rejects: str | None
    dialect: str  # for the load message, e.g. "csv ';' cp1252"
    line_offset: int | None  # line number = row number + offset; None for Parquet
    # (TABLE or VIEW, name) of what holds the file's text, to drop once it is checked
    text_objects: tuple[tuple[str, str], ...] = ()
    rejected: int = 0  # rows in `rejects`


def normalise_header(names: list[object]) -> list[str]:
    """Header names compared case-insensitively with surrounding spaces (and a BOM) ignored.
    A nameless column gets a positional name so its values are kept as an extra column."""
    out = []
    for i, name in enumerate(names):
        text = "" if name is None else str(name).replace("\ufeff", "").strip().lower()
        out.append(text or f"column_{i + 1}")
    seen: set[str] = set()
    for name in out:
        if name in seen:
            raise UnreadableFileError(f"the column '{name}' appears twice in the header")
        seen.add(name)
    return out


def read_table(con: duckdb.DuckDBPyConnection, delivery: Delivery, name: str, tmp_dir: Path) -> RawTable:
    """The delivery as a text table called `name` in the in-memory connection.

    Raises UnreadableFileError (without the file name: the caller adds it) when the file is
    not a table of the accepted formats."""
    readers = {"csv": read_csv, "xlsx": read_xlsx, "parquet": read_parquet}
    try:
        return readers[delivery.format](con, delivery.path, name, tmp_dir)
    except UnreadableFileError:
        raise
    except (duckdb.Error, OSError, zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableFileError(f"cannot be read as {delivery.format}: {scrub(first_line)}") from exc


def estimated_rows(delivery: Delivery) -> int:
    """Rows of a delivery before reading it, to bound how many go through memory together:
    exact for Parquet (its footer says), from the size otherwise."""
    if delivery.format == "parquet":
        try:
            return pq.read_metadata(delivery.path).num_rows
        except (OSError, pa.ArrowException):
            pass  # refused when read; its size is estimate enough
    return delivery.path.stat().st_size // _BYTES_PER_ROW


# --- CSV --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextScan:
    """What one pass over a CSV file's bytes found out."""

    encoding: str  # 'utf-8' or 'cp1252'
    nul: bool = False  # it holds a NUL byte somewhere
    foreign: int = 0  # lines in the other encoding (UTF-8 files only; DuckDB rejects them)


def detect_encoding(path: Path) -> str:
    """The file's encoding (see scan_text)."""
    return scan_text(path).encoding


def scan_text(path: Path) -> TextScan:
    """'utf-8' (a BOM is allowed) when every byte sequence is valid UTF-8, 'cp1252', the Windows
    encoding Danish office programs export in, when no line has a UTF-8 æøå. A cp1252 file
    with æøå is never valid UTF-8, so the test cannot mistake one for the other.

    A file with lines of both is mixed (a line pasted from another program): decoding it all
    in one encoding would garble the others' æøå without a word. Mostly UTF-8, it is read as
    UTF-8 and DuckDB rejects the other lines, which are quarantined with their line number;
    otherwise it is refused, naming the UTF-8 lines. Streaming, in C-speed chunks; only a
    mixed file is looked at line by line."""
    utf8 = invalid = nul = False
    with open(path, "rb") as fh:
        for block in _line_blocks(fh):
            nul = nul or b"\x00" in block
            if block.isascii():
                continue
            try:
                block.decode("utf-8")
                utf8 = True
            except UnicodeDecodeError:
                invalid = True
                utf8 = utf8 or _has_utf8_letters(block)
    if not invalid:
        return TextScan("utf-8", nul)
    if not utf8:
        return TextScan("cp1252", nul)
    return _mixed(path, nul)


def _has_utf8_letters(block: bytes) -> bool:
    """Whether bytes that are not all UTF-8 still hold a UTF-8 character of two or more bytes.
    Such a character needs bytes 0x80-0xBF, which Danish Windows-1252 text seldom has (only
    for € – ' " and a few signs): their absence settles it at C speed."""
    if not block.translate(None, _NOT_CONTINUATION):
        return False
    return not block.decode("utf-8", errors="ignore").isascii()


def _line_blocks(fh: BinaryIO) -> Iterator[bytes]:
    """The file in blocks of about _CHUNK bytes that end at a line break (or the file's end),
    so that no character and no line is cut in two."""
    while chunk := fh.read(_CHUNK):
        yield chunk + fh.readline()


def _mixed(path: Path, nul: bool) -> TextScan:
    """A file with lines in UTF-8 and lines that are not: the majority of its non-ASCII lines
    decides; a Windows-1252 majority is refused, since its UTF-8 lines would read as garbage
    with no error to quarantine them by."""
    utf8: list[int] = []
    other: list[int] = []
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                utf8.append(number)
            except UnicodeDecodeError:
                other.append(number)
    if not utf8:
        return TextScan("cp1252", nul)
    if len(utf8) >= len(other):
        return TextScan("utf-8", nul, foreign=len(other))
    shown = ", ".join(map(str, utf8[:10])) + (" …" if len(utf8) > 10 else "")
    raise UnreadableFileError(
        f"the file is in Windows-1252 but line{'s' if len(utf8) > 1 else ''} {shown} "
        f"{'are' if len(utf8) > 1 else 'is'} in UTF-8, whose æøå would be garbled: save the whole file "
        "in one encoding"
    )


def detect_delimiter(header_line: str) -> str:
    """';' or ',', whichever separates more fields of the header row (quoted text ignored)."""
    counts = {";": 0, ",": 0}
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return ";" if counts[";"] > counts[","] else ","


def _first_lines(path: Path, encoding: str | None) -> list[str]:
    """The first lines of the file as text, to find the header and separator (None: only
    check that the file is text)."""
    with open(path, "rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
    if sample.startswith(_UTF8_BOM):
        sample = sample[len(_UTF8_BOM) :]
    if b"\x00" in sample.split(b"\n", 1)[0]:
        # a NUL further down is a damaged value, quarantined; in the first line, it is no text
        raise UnreadableFileError(
            "this is not a text file in UTF-8 or Windows-1252 (a spreadsheet saved with a .csv name, "
            "or UTF-16 text?)"
        )
    if encoding is None:
        return []
    text = sample.decode(encoding, errors="replace")
    if not text.strip():
        raise UnreadableFileError("the file is empty: it has no header row")
    return text.splitlines()[:2]


def read_csv(con: duckdb.DuckDBPyConnection, path: Path, name: str, tmp_dir: Path) -> RawTable:
    """A CSV file in any accepted dialect. DuckDB splits the rows (quoted fields, both line
    endings); rows it cannot split go to a rejects table instead of stopping the load. A line
    whose quote runs away is cut out and the file read again (rare: a full read each time)."""
    _first_lines(path, None)  # a binary file is refused before it is scanned as text
    scan = scan_text(path)
    encoding = scan.encoding
    lines = _first_lines(path, encoding)
    # Excel writes a first line `sep=;` when asked to; it names the separator.
    hint = _SEP_LINE.match(lines[0].strip())
    skip = 1 if hint else 0
    if len(lines) <= skip:
        raise UnreadableFileError("the file has no header row after its sep= line")
    delimiter = hint.group(1) if hint else detect_delimiter(lines[0])
    columns = normalise_header(next(csv.reader([lines[skip]], delimiter=delimiter)))
    source = path if encoding == "utf-8" else _to_utf8(path, encoding, tmp_dir)
    rejects = f"{name}_rejects"
    cut: list[tuple[int, str]] = []  # (row, text) of the lines whose quote ran away
    try:
        while True:
            width = len(columns)
            errors, runaway = _split_rows(con, source, name, rejects, skip, delimiter, width, bool(cut))
            if runaway is None:
                break
            row = _original_row(runaway[0] - 1 - skip, cut)
            if len(cut) == load_config().csv.max_runaway_quotes:
                before = f" and {len(cut)} lines before it" if cut else ""
                raise UnreadableFileError(
                    f"line {row + 1 + skip}{before} open a quote that is not closed in the line, so the "
                    "file cannot be split into rows; quote whole values and double any quote inside them"
                )
            source, text = _without_line(source, runaway[1], path, tmp_dir)
            cut.append((row, text))
    finally:
        if source != path:
            source.unlink()
    nul = _nul_rows(columns, delimiter) if scan.nul else None
    objects, rejected = _number_csv_rows(con, name, columns, rejects, skip, nul, cut, errors)
    dialect = f"csv '{delimiter}' {encoding}"
    if scan.foreign:
        dialect += f", {scan.foreign} line{'s' if scan.foreign > 1 else ''} in another encoding quarantined"
    return RawTable(
        name,
        columns,
        rejects if rejected else None,
        dialect,
        1 + skip,
        text_objects=objects,
        rejected=rejected,
    )


def _to_utf8(path: Path, encoding: str, tmp_dir: Path) -> Path:
    """A UTF-8 copy in the session's private temporary folder (DuckDB reads only UTF-8 and
    Latin-1, which lacks cp1252's €, – and quotes); deleted as soon as it is read."""
    target = tmp_dir / f"{path.stem}.utf8.csv"
    with (
        open(path, encoding=encoding, errors="replace", newline="") as src,
        open(target, "w", encoding="utf-8", newline="") as dst,
    ):
        shutil.copyfileobj(src, dst, _CHUNK)
    return target


def _split_rows(
    con: duckdb.DuckDBPyConnection,
    source: Path,
    name: str,
    rejects: str,
    skip: int,
    delimiter: str,
    width: int,
    again: bool = False,
) -> tuple[int, tuple[int, int] | None]:
    """DuckDB splits the file into the text table "{name}_csv" (c0, c1 …) and its rejects
    (`again`: the rejects of the previous read are dropped first); returns how many errors
    DuckDB reported and where the first quote ran away, if one did (see _runaway_quote)."""
    spec = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(width))
    if again:
        con.execute(f'DROP TABLE IF EXISTS "{rejects}_errors"; DROP TABLE IF EXISTS "{rejects}_scans"')
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE "{name}_csv" AS SELECT * FROM read_csv({literal(str(source))},
        auto_detect = false, skip = {skip}, header = true, delim = {literal(delimiter)},
        quote = '"', escape = '"', columns = {{{spec}}},
        store_rejects = true, rejects_table = '{rejects}_errors', rejects_scan = '{rejects}_scans',
        max_line_size = 10000000)"""
    )
    return _runaway_quote(con, rejects)


def _runaway_quote(con: duckdb.DuckDBPyConnection, rejects: str) -> tuple[int, tuple[int, int] | None]:
    """The number of DuckDB's errors, and (DuckDB's line, byte position) of the first row that
    a quote opened in it ran over line breaks into a row that cannot be read. DuckDB reads on
    to the next quote, often the end of the file, so the lines in between would be neither
    loaded, quarantined nor counted. (A quoted value with a line break that closes and leaves
    a proper row is a value.) One query: most files have no error at all."""
    runaway = "regexp_matches(rtrim(csv_line, chr(10) || chr(13)), '[' || chr(10) || chr(13) || ']')"
    errors, line, position = con.execute(
        f"SELECT count(*), arg_min(line, line_byte_position) FILTER (WHERE {runaway}), "
        f'min(line_byte_position) FILTER (WHERE {runaway}) FROM "{rejects}_errors"'
    ).fetchone()
    return int(errors), (int(line), int(position)) if position is not None else None


def _without_line(source: Path, start: int, path: Path, tmp_dir: Path) -> tuple[Path, str]:
    """A copy of `source` (in the session's private folder) without the line that starts at
    byte `start`, and that line's text: the lines after a runaway quote are read on their own.
    Byte ranges are copied as they are, at C speed; a previous copy is deleted."""
    target = tmp_dir / f"{path.stem}.{time.monotonic_ns()}.csv"
    with open(source, "rb") as src, open(target, "wb") as dst:
        start = _line_start(src, start)
        src.seek(0)
        _copy_bytes(src, dst, start)
        line = src.readline()
        shutil.copyfileobj(src, dst, _CHUNK)
    if source != path:
        source.unlink()
    return target, line.decode("utf-8", errors="replace").rstrip("\r\n")


def _line_start(fh: BinaryIO, position: int) -> int:
    """Where the line holding byte position - 1 starts: DuckDB's line_byte_position is at times
    one byte into the line (after '\\n' line ends), at times on its start (after '\\r\\n')."""
    end = position
    while end > 0:
        begin = max(0, end - _SAMPLE_BYTES)
        fh.seek(begin)
        found = fh.read(end - begin).rfind(b"\n")
        if found >= 0:
            return begin + found + 1
        end = begin
    return 0


def _copy_bytes(src: BinaryIO, dst: BinaryIO, count: int) -> None:
    while count and (chunk := src.read(min(count, _CHUNK))):
        dst.write(chunk)
        count -= len(chunk)


def _original_row(row: int, cut: list[tuple[int, str]]) -> int:
    """The row number in the delivery of row `row` of a copy without the `cut` rows: the
    row-th number that is not cut (cut rows are in the order they were found, any order)."""
    for removed in sorted(r for r, _ in cut):
        if removed <= row:
            row += 1
    return row


def _nul_rows(columns: list[str], delimiter: str) -> tuple[str, str, str]:
    """SQL over a CSV's named text columns: whether a row holds a NUL byte, the first column
    that does, and the row as a line without them (the quarantined record)."""
    found = [f"contains({ident(col)}, chr(0))" for col in columns]
    first = "CASE " + " ".join(f"WHEN {f} THEN {literal(col)}" for f, col in zip(found, columns, strict=True))
    fields = ", ".join(f"coalesce({ident(col)}, '')" for col in columns)
    line = f"replace(concat_ws({literal(delimiter)}, {fields}), chr(0), '')"
    return " OR ".join(found), first + " END", line


def _number_csv_rows(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: list[str],
    rejects: str,
    skip: int,
    nul: tuple[str, str, str] | None = None,
    cut: list[tuple[int, str]] | None = None,
    errors: int | None = None,
) -> tuple[tuple[tuple[str, str], ...], int]:
    """Give every row its row number in the file. DuckDB keeps the order of the rows it read
    but leaves out the rejected ones, whose line numbers it reports: the good rows fill the
    gaps between them (an ASOF join on "good rows before each rejected row"). Rows with a
    NUL byte (`nul`: see _nul_rows) join the rejected ones once they are numbered; so do the
    `cut` lines of runaway quotes, which DuckDB did not see (its row numbers skip them).
    `errors` (how many DuckDB reported, when known): a file without any, cut or NUL byte, the
    usual case, becomes a view of its rows with nothing else made."""
    renamed = ", ".join(f"c{i} AS {ident(col)}" for i, col in enumerate(columns))
    if errors == 0 and not cut and nul is None:
        con.execute(
            f'DROP TABLE "{rejects}_errors"; DROP TABLE "{rejects}_scans"; CREATE OR REPLACE TEMP VIEW '
            f'"{name}" AS SELECT rowid + 1 AS {ROW_NUMBER}, {renamed} FROM "{name}_csv"'
        )
        return (("VIEW", name), ("TABLE", f"{name}_csv")), 0
    # DuckDB's row r is the r-th row of the file that is not cut: r + #{i: R_i - i < r} for
    # the cut rows R_1 < R_2 < … (i from 1)
    shifts = [row - i for i, row in enumerate(sorted(r for r, _ in cut or []), start=1)]
    original = "r" if not shifts else f"r + len(list_filter({shifts}, lambda k: k < r))"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE "{rejects}" AS
        SELECT {original} AS {ROW_NUMBER}, error_type, error_message, line, column_name FROM (
            SELECT line - 1 - {skip} AS r, error_type::VARCHAR AS error_type, error_message,
                   trim(csv_line, chr(10) || chr(13)) AS line, NULL::VARCHAR AS column_name
            FROM "{rejects}_errors" QUALIFY row_number() OVER (PARTITION BY line ORDER BY column_idx) = 1
        )"""
    )
    if cut:
        con.executemany(
            f"""INSERT INTO "{rejects}" VALUES (?, 'RUNAWAY QUOTE', '', ?, NULL)""", [list(c) for c in cut]
        )
    con.execute(f'DROP TABLE "{rejects}_errors"')
    con.execute(f'DROP TABLE "{rejects}_scans"')
    rejected = con.execute(f'SELECT count(*) FROM "{rejects}"').fetchone()[0]
    if not rejected and nul is None:
        con.execute(f'DROP TABLE "{rejects}"')
        con.execute(
            f'CREATE OR REPLACE TEMP VIEW "{name}" AS '
            f'SELECT rowid + 1 AS {ROW_NUMBER}, {renamed} FROM "{name}_csv"'
        )
        return (("VIEW", name), ("TABLE", f"{name}_csv")), 0
    if not rejected:
        con.execute(
            f'CREATE OR REPLACE TEMP TABLE "{name}" AS '
            f'SELECT rowid + 1 AS {ROW_NUMBER}, {renamed} FROM "{name}_csv"'
        )
    else:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE "{name}" AS
            WITH good AS (SELECT rowid + 1 AS g, * FROM "{name}_csv"),
            gaps AS (
                SELECT {ROW_NUMBER} - row_number() OVER (ORDER BY {ROW_NUMBER}) AS gap,
                       row_number() OVER (ORDER BY {ROW_NUMBER}) AS before
                FROM "{rejects}"
            ),
            last_gap AS (SELECT gap, max(before) AS before FROM gaps GROUP BY gap)
            SELECT g + coalesce(last_gap.before, 0) AS {ROW_NUMBER}, {renamed}
            FROM good ASOF LEFT JOIN last_gap ON good.g > last_gap.gap"""
        )
    con.execute(f'DROP TABLE "{name}_csv"')
    if nul is not None:
        has, first, line = nul
        con.execute(
            f"""INSERT INTO "{rejects}" SELECT {ROW_NUMBER}, 'NUL BYTE', '', {line}, {first}
            FROM "{name}" WHERE {has}"""
        )
        con.execute(f'DELETE FROM "{name}" WHERE {has}')
        rejected = con.execute(f'SELECT count(*) FROM "{rejects}"').fetchone()[0]
    return (("TABLE", name),), rejected


def reject_reason_sql(expected: int) -> str:
    """SQL for the reason of a CSV row DuckDB could not split (columns of the rejects table)."""
    found = "regexp_extract(error_message, 'Found: ([0-9]+)', 1)"
    cases = " ".join(
        f"WHEN {literal(kind)} THEN "
        + literal(template.format(found="\x00", expected=expected)).replace("\x00", f"' || {found} || '")
        for kind, template in _REJECT_REASONS.items()
    )
    fallback = "'the row cannot be read: ' || mask_cpr(split_part(error_message, chr(10), 1))"
    return f"CASE error_type {cases} ELSE {fallback} END"


# --- Excel ------------------------------------------------------------------------------------


def read_xlsx(con: duckdb.DuckDBPyConnection, path: Path, name: str, tmp_dir: Path) -> RawTable:
    """The first sheet of a workbook, header in row 1, read in openpyxl's streaming mode and
    handed to DuckDB in chunks, so a full sheet never sits in Python lists at once."""
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise UnreadableFileError("the first sheet is empty: it has no header row")
        width = _last_named(header)
        columns = normalise_header(list(header[:width]))
        texts = ", ".join(f"{ident(c)} VARCHAR" for c in columns)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(name)} ({ROW_NUMBER} BIGINT, {texts})")
        chunk: list[list[str | None]] = []
        for number, row in enumerate(rows, start=1):
            cells = [cell_text(v) for v in row[:width]]
            chunk.append([str(number), *cells, *[None] * (width - len(cells))])
            if len(chunk) == _XLSX_CHUNK:
                _append(con, name, chunk)
                chunk = []
        _append(con, name, chunk)
    finally:
        workbook.close()
    return RawTable(name, columns, None, "xlsx", line_offset=1, text_objects=(("TABLE", name),))


def _append(con: duckdb.DuckDBPyConnection, name: str, rows: list[list[str | None]]) -> None:
    """Insert rows of text (the row number first) into the table, through Arrow."""
    if not rows:
        return
    table = pa.table(
        {f"c{i}": pa.array(column, pa.string()) for i, column in enumerate(zip(*rows, strict=True))}
    )
    con.register(f"{name}_chunk", table)
    try:
        con.execute(f"INSERT INTO {ident(name)} SELECT * FROM {ident(name + '_chunk')}")
    finally:
        con.unregister(f"{name}_chunk")


def _last_named(header: tuple[object, ...]) -> int:
    """Width of the header up to its last non-empty cell: read-only sheets often report
    formatted but empty columns beyond the data."""
    width = len(header)
    while width and (header[width - 1] is None or str(header[width - 1]).strip() == ""):
        width -= 1
    if width == 0:
        raise UnreadableFileError("the header row of the first sheet is empty")
    return width


def cell_text(value: object) -> str | None:
    """An Excel cell as the text a CSV export would have held: whole numbers without '.0',
    dates as YYYY-MM-DD."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


# --- Parquet ----------------------------------------------------------------------------------


def read_parquet(con: duckdb.DuckDBPyConnection, path: Path, name: str, tmp_dir: Path) -> RawTable:
    """A Parquet file as a view (not copied: national files are large), every column cast to
    the text a CSV export would hold. Timestamps at midnight become dates."""
    described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    originals = [row[0] for row in described]
    columns = normalise_header(originals)
    casts = ", ".join(
        f"{_parquet_text(ident(orig), sql_type)} AS {ident(col)}"
        for orig, sql_type, col in zip(originals, (row[1] for row in described), columns, strict=True)
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW "{name}" AS
        SELECT file_row_number + 1 AS {ROW_NUMBER}, {casts}
        FROM read_parquet({literal(str(path))}, file_row_number = true)"""
    )
    return RawTable(name, columns, None, "parquet", line_offset=None, text_objects=(("VIEW", name),))


def _parquet_text(column: str, sql_type: str) -> str:
    if sql_type.startswith("TIMESTAMP"):
        return (
            f"CASE WHEN {column} = date_trunc('day', {column}) "
            f"THEN strftime({column}, '%Y-%m-%d') ELSE CAST({column} AS VARCHAR) END"
        )
    return column if sql_type == "VARCHAR" else f"CAST({column} AS VARCHAR)"
