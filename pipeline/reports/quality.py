"""The data-quality box of the follow-up report: what was quarantined, refused or failed, from
the warehouse's run log (meta.loads, quarantine.rows, meta.quality_results, meta.runs).

Those tables live only in the warehouse file, and a report must never block a build nor be
blocked by one. So `provmon report` takes one small snapshot of them at its start (a read-only
open of a few milliseconds, retried briefly if a writer holds the file) and hands it to every
notebook as JSON; when the file stays locked the box says so and the reports still run.

Only counts per extract, column and check leave the warehouse: no quarantined row, no reason
text (it may quote a masked CPR), no person key. Those counts are of delivered rows, not of
citizens, so they are shown exactly: the disclosure control of the reports (counts below 5 as
"<5") protects people, and a count of 3 rows with a bad date says nothing about anyone, while an
analyst needs it to find the rows.

What the section shows is Danish (extracts by their Danish names, checks by their Danish
descriptions, the run log's verbs in words); the technical name (extract, column, check, table)
follows in small print, because that is what an analyst looks up in the warehouse."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
from IPython.display import HTML

from pipeline import danish
from pipeline.quality.labels import Labels, load_labels
from pipeline.warehouse import WarehouseError, connect

LOCKED = (
    "Oplysningerne om indlæsning og datakvalitet kunne ikke hentes, fordi warehouse-filen var i brug "
    "af en anden kørsel; kør provmon report igen, når den er færdig."
)
MISSING = "Der er ingen warehouse-fil ved siden af data/marts, så indlæsningsloggen kan ikke vises."

LOADS_SQL = """
    with ranked as (
        select *, row_number() over (partition by extract order by delivery_date desc, load_id desc) as newest
        from meta.loads where status = 'loaded'
    )
    select l.extract,
        max(l.delivery_date) filter (where newest = 1) as latest_delivery,
        sum(l.rows_read) filter (where newest = 1) as latest_rows_read,
        sum(l.rows_quarantined) filter (where newest = 1) as latest_rows_quarantined,
        sum(l.rows_quarantined) as rows_quarantined,
        count(*) as files
    from ranked l group by l.extract order by l.extract
"""
REFUSED_SQL = """
    select extract, file, delivery_date from meta.loads where status = 'refused'
    order by delivery_date desc, load_id desc limit 20
"""
QUARANTINE_SQL = """
    select extract, column_name, count(*) as rows
    from quarantine.rows group by all order by extract, column_name nulls first
"""
# The newest validation of the deliveries and of the marts: each has its own run, and the one
# that ran last must not hide the other's breaches.
CHECK_TABLES = ("meta.quality_results", "meta.runs")
CHECK_VERBS = ("validate", "validate-marts")
LATEST_CHECKS = f"""
    with latest as (
        select r.verb, max(q.run_id) as run_id
        from meta.quality_results q join meta.runs r using (run_id)
        where r.verb in {CHECK_VERBS!r}
        group by r.verb
    )
"""
# Danish texts of a result; results stored by an older provmon have only the technical names.
CHECK_TEXTS = ("description_da", "observed_da", "threshold_da")
COUNTS_SQL = f"""{LATEST_CHECKS}
    select latest.verb, count(*) as checks,
        count(*) filter (where not q.success and q.severity = 'critical') as critical,
        count(*) filter (where not q.success and q.severity = 'warning') as warnings
    from meta.quality_results q join latest using (run_id)
    group by all order by latest.verb
"""


def checks_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The failed checks of the newest runs, with their Danish texts where stored."""
    stored = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'meta' and table_name = 'quality_results'"
        ).fetchall()
    }
    texts = ", ".join(f"q.{c}" if c in stored else f"NULL AS {c}" for c in CHECK_TEXTS)
    return f"""{LATEST_CHECKS}
        select latest.verb, q.table_name, q.expectation, q.severity, q.file, {texts}
        from meta.quality_results q join latest using (run_id)
        where not q.success
        order by latest.verb, q.severity, q.table_name, q.expectation, q.file
    """


RUNS_SQL = """
    select verb, status, finished_at from (
        select *, row_number() over (partition by verb order by run_id desc) as newest from meta.runs
    ) where newest = 1 order by verb
"""


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_schema || '.' || table_name from information_schema.tables").fetchall()
    return {r[0] for r in rows}


def _query(
    con: duckdb.DuckDBPyConnection, present: set[str], tables: str | tuple[str, ...], sql: str
) -> list[dict[str, Any]]:
    if not set((tables,) if isinstance(tables, str) else tables) <= present:
        return []
    frame = con.execute(sql).df()
    return json.loads(frame.to_json(orient="records", date_format="iso"))


def snapshot(warehouse: Path, attempts: int = 5, wait_seconds: float = 1.0) -> dict[str, Any]:
    """The run-log summary of the warehouse as JSON-ready data; see the module docstring."""
    warehouse = Path(warehouse)
    if not warehouse.exists():
        return {"available": False, "note": MISSING}
    for attempt in range(attempts):
        try:
            con = connect(warehouse, read_only=True)
        except WarehouseError:
            if attempt + 1 < attempts:
                time.sleep(wait_seconds)
            continue
        try:
            present = _tables(con)
            return {
                "available": True,
                "note": "",
                "loads": _query(con, present, "meta.loads", LOADS_SQL),
                "refused": _query(con, present, "meta.loads", REFUSED_SQL),
                "quarantine": _query(con, present, "quarantine.rows", QUARANTINE_SQL),
                "checks": _query(con, present, CHECK_TABLES, checks_sql(con)),
                "check_counts": _query(con, present, CHECK_TABLES, COUNTS_SQL),
                "runs": _query(con, present, "meta.runs", RUNS_SQL),
            }
        finally:
            con.close()
    return {"available": False, "note": LOCKED}


def write_snapshot(snap: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(snap, ensure_ascii=False, default=str), encoding="utf-8")
    return path


def read_snapshot(path: Path | str | None, warehouse: Path | str | None) -> dict[str, Any]:
    """The snapshot `provmon report` wrote, or (a notebook opened by hand) a fresh one."""
    if path and Path(path).exists():
        return json.loads(Path(path).read_text(encoding="utf-8"))
    return snapshot(Path(warehouse)) if warehouse else {"available": False, "note": MISSING}


# --- what the section shows, in Danish ------------------------------------------------------------

STATUS = {"ok": "gennemført", "failed": "fejlede", "running": "i gang"}
# The data-quality page (pipeline/quality/page.py) from a report in reports/<YYYY-MM>/.
QUALITY_PAGE = "../quality/index.html"
STYLE = (
    "<style>.provmon-tech { display: block; color: #666; font-size: 0.8em; "
    "font-family: ui-monospace, monospace; }</style>"
)


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _tech(text: str | None) -> str:
    """A technical name in small print under the Danish one."""
    return f'<span class="provmon-tech">{html.escape(text)}</span>' if text else ""


def _named(danish_name: str, technical: str | None) -> str:
    return html.escape(capitalised(danish_name)) + _tech(technical)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """A table of cells that are already HTML (escaped text, small print)."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="provmon-note">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    return f'<table class="provmon-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _count(n: Any) -> str:
    """A row count, exact (see the module docstring)."""
    return danish.MISSING if n is None else danish.format_int(n)


def runs_table(snap: dict[str, Any], labels: Labels) -> str:
    """The newest run of each verb and how it ended."""
    rows = [
        [
            _named(labels.verb(r["verb"]), f"provmon {r['verb']}"),
            html.escape(STATUS.get(r["status"], r["status"])),
            html.escape(danish.format_date(r["finished_at"][:10]))
            if r.get("finished_at")
            else danish.MISSING,
        ]
        for r in snap.get("runs") or []
    ]
    return _table(["Kørsel", "Status", "Afsluttet"], rows, "Ingen kørsler er registreret i kørselsloggen.")


def checks_text(snap: dict[str, Any], labels: Labels) -> str:
    """One sentence per validation: how many checks, how many breaches; and where all of them are."""
    parts = [
        f"{capitalised(labels.verb(r['verb']))}: {danish.format_int(r['checks'])} kontroller, "
        f"{danish.format_int(r['critical'])} kritiske brud og {danish.format_int(r['warnings'])} advarsler."
        for r in snap.get("check_counts") or []
    ]
    if not parts:
        return '<p class="provmon-note">Data er ikke kontrolleret endnu (provmon validate).</p>'
    link = f'<a href="{QUALITY_PAGE}">datakvalitetssiden</a>'
    where = f"Alle kontroller med observerede værdier og tærskler står på {link}."
    return f"<p>{html.escape(' '.join(parts))} {where}</p>"


def problems_rows(snap: dict[str, Any], exclusions: pd.DataFrame, labels: Labels) -> list[list[str]]:
    """Refused files, failed checks of the newest validations, failed runs and rows the marts
    left out: everything the meeting should know is not in the numbers."""
    out = [
        ["Afvist fil", _named(labels.extract(r["extract"]), r["file"]), danish.MISSING, danish.MISSING]
        for r in snap.get("refused") or []
    ]
    for r in snap.get("checks") or []:
        where = " · ".join(p for p in (r["table_name"], r.get("file")) if p)
        what = f"{labels.severity(r['severity'])}: {r.get('description_da') or r['expectation']}"
        out.append(
            [
                _named(what, r["expectation"]),
                _named(labels.table(r["table_name"]), where),
                html.escape(r.get("observed_da") or danish.MISSING),
                html.escape(r.get("threshold_da") or danish.MISSING),
            ]
        )
    out += [
        [
            "Kørsel fejlede",
            _named(labels.verb(r["verb"]), f"provmon {r['verb']}"),
            danish.MISSING,
            danish.MISSING,
        ]
        for r in snap.get("runs") or []
        if r.get("status") == "failed"
    ]
    if not exclusions.empty:
        for _, r in exclusions[exclusions["excluded_rows"] > 0].iterrows():
            reason = r.get("reason_da") or r["reason"]
            out.append(
                [
                    "Udeladt af opgørelsen",
                    _named(f"{labels.extract(r['extract'])}: {reason}", f"{r['extract']} · {r['reason']}"),
                    html.escape(
                        f"{_count(r['excluded_rows'])} {'række' if r['excluded_rows'] == 1 else 'rækker'}"
                    ),
                    danish.MISSING,
                ]
            )
    return out


def loads_rows(snap: dict[str, Any], labels: Labels) -> list[list[str]]:
    return [
        [
            _named(labels.extract(r["extract"]), r["extract"]),
            danish.format_date(r["latest_delivery"][:10]) if r["latest_delivery"] else danish.MISSING,
            _count(r["latest_rows_read"]),
            _count(r["latest_rows_quarantined"]),
            _count(r["rows_quarantined"]),
            _count(r["files"]),
        ]
        for r in snap.get("loads") or []
    ]


def quarantine_rows(snap: dict[str, Any], labels: Labels) -> list[list[str]]:
    return [
        [
            _named(labels.extract(r["extract"]), r["extract"]),
            _named(labels.column(r["column_name"]), r["column_name"]),
            _count(r["rows"]),
        ]
        for r in snap.get("quarantine") or []
    ]


def section(snap: dict[str, Any], exclusions: pd.DataFrame) -> HTML:
    """The follow-up report's "Datakvalitet" section: runs, breaches, loads and quarantine."""
    labels = load_labels()
    parts = [STYLE]
    if not snap.get("available"):
        parts.append(f'<p class="provmon-note">{html.escape(snap.get("note") or MISSING)}</p>')
    else:
        parts += ["<h3>Kørsler og kontroller</h3>", runs_table(snap, labels), checks_text(snap, labels)]
    parts += [
        "<h3>Det skal mødet vide om data</h3>",
        _table(
            ["Hvad", "Hvor", "Observeret", "Tærskel"],
            problems_rows(snap, exclusions, labels),
            "Ingen afviste filer, brud på kontroller, fejlede kørsler eller udeladte rækker.",
        ),
    ]
    if snap.get("available"):
        parts += [
            "<h3>Indlæste leverancer</h3>",
            _table(
                [
                    "Udtræk",
                    "Seneste levering",
                    "Rækker i seneste levering",
                    "Heraf i karantæne",
                    "I karantæne i alt",
                    "Filer indlæst",
                ],
                loads_rows(snap, labels),
                "Ingen indlæsninger registreret.",
            ),
            "<h3>Rækker i karantæne</h3>",
            '<p class="provmon-note">Antal rækker pr. udtræk og kolonne; rækkerne og årsagerne står i '
            "warehouse-tabellen quarantine.rows. Tallene er rækker, ikke borgere, og vises derfor "
            "præcist.</p>",
            _table(
                ["Udtræk", "Kolonne", "Rækker i karantæne"],
                quarantine_rows(snap, labels),
                "Ingen rækker i karantæne.",
            ),
        ]
    return HTML("\n".join(parts))
