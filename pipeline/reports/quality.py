"""The data-quality box of the follow-up report: what was quarantined, refused or failed, from
the warehouse's run log (meta.loads, quarantine.rows, meta.quality_results, meta.runs).

Those tables live only in the warehouse file, and a report must never block a build nor be
blocked by one. So `provmon report` takes one small snapshot of them at its start (a read-only
open of a few milliseconds, retried briefly if a writer holds the file) and hands it to every
notebook as JSON; when the file stays locked the box says so and the reports still run.

Only counts per extract, column and check leave the warehouse: no quarantined row, no reason
text (it may quote a masked CPR), no person key."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from pipeline import danish
from pipeline.reports.config import Disclosure
from pipeline.reports.disclosure import count_text
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
    select extract, coalesce(column_name, '(hele rækken)') as column_name, count(*) as rows
    from quarantine.rows group by all order by extract, column_name
"""
CHECKS_SQL = """
    select table_name, expectation, severity, count(*) as breaches
    from meta.quality_results
    where run_id = (select max(run_id) from meta.quality_results) and not success
    group by all order by severity, table_name, expectation
"""
RUNS_SQL = """
    select verb, status, finished_at from (
        select *, row_number() over (partition by verb order by run_id desc) as newest from meta.runs
    ) where newest = 1 order by verb
"""


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_schema || '.' || table_name from information_schema.tables").fetchall()
    return {r[0] for r in rows}


def _query(con: duckdb.DuckDBPyConnection, present: set[str], table: str, sql: str) -> list[dict[str, Any]]:
    if table not in present:
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
                "checks": _query(con, present, "meta.quality_results", CHECKS_SQL),
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


# --- what the box shows, in Danish ----------------------------------------------------------------

STATUS = {"ok": "gennemført", "failed": "fejlede", "running": "i gang"}
SEVERITY = {"critical": "kritisk", "warning": "advarsel"}


def loads_table(snap: dict[str, Any], rule: Disclosure) -> pd.DataFrame:
    rows = snap.get("loads") or []
    return pd.DataFrame(
        [
            {
                "Udtræk": r["extract"],
                "Seneste levering": danish.format_date(r["latest_delivery"][:10])
                if r["latest_delivery"]
                else "",
                "Rækker i seneste levering": count_text(r["latest_rows_read"], rule),
                "Heraf i karantæne": count_text(r["latest_rows_quarantined"], rule),
                "I karantæne i alt": count_text(r["rows_quarantined"], rule),
                "Filer indlæst": danish.format_int(r["files"]),
            }
            for r in rows
        ]
    )


def quarantine_table(snap: dict[str, Any], rule: Disclosure) -> pd.DataFrame:
    rows = snap.get("quarantine") or []
    return pd.DataFrame(
        [
            {
                "Udtræk": r["extract"],
                "Kolonne": r["column_name"],
                "Rækker i karantæne": count_text(r["rows"], rule),
            }
            for r in rows
        ]
    )


def problems_table(snap: dict[str, Any], exclusions: pd.DataFrame, rule: Disclosure) -> pd.DataFrame:
    """Refused files, failed checks of the latest validation, failed runs and rows the marts
    left out: everything the meeting should know is not in the numbers."""
    out = [
        {"Hvad": "Afvist fil", "Hvor": f"{r['extract']}: {r['file']}", "Antal": ""}
        for r in snap.get("refused") or []
    ]
    out += [
        {
            "Hvad": f"Datakvalitetstjek ({SEVERITY.get(r['severity'], r['severity'])})",
            "Hvor": f"{r['table_name']}: {r['expectation']}",
            "Antal": count_text(r["breaches"], rule),
        }
        for r in snap.get("checks") or []
    ]
    out += [
        {"Hvad": "Kørsel fejlede", "Hvor": f"provmon {r['verb']}", "Antal": ""}
        for r in snap.get("runs") or []
        if r.get("status") == "failed"
    ]
    if not exclusions.empty:
        left_out = exclusions[exclusions["excluded_rows"] > 0]
        out += [
            {
                "Hvad": "Udeladt af opgørelsen",
                "Hvor": f"{r['extract']}: {r.get('reason_da') or r['reason']}",
                "Antal": count_text(r["excluded_rows"], rule),
            }
            for _, r in left_out.iterrows()
        ]
    return pd.DataFrame(out, columns=["Hvad", "Hvor", "Antal"])


def runs_text(snap: dict[str, Any]) -> str:
    """One line: the newest run of each verb and how it ended."""
    runs = snap.get("runs") or []
    if not runs:
        return "Ingen kørsler er registreret i kørselsloggen."
    parts = [
        f"{r['verb']} {STATUS.get(r['status'], r['status'])}"
        + (f" {danish.format_date(r['finished_at'][:10])}" if r.get("finished_at") else "")
        for r in runs
    ]
    return "Seneste kørsler: " + ", ".join(parts) + "."
