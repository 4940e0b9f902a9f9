"""The data-quality page, <out_dir>/quality/index.html: every check of the latest validation of
the deliveries and of the built tables, in Danish, in one file that opens without a network.

It replaces Great Expectations' Data Docs as the page a person is pointed to: those load their
scripts, styles and fonts from the internet (and a logo whose URL carries the context's id), so
offline they show an unstyled page with an empty results table. This page is plain HTML with its
style inline and no script, written from meta.quality_results after every validation, so it
always shows the newest run of each kind, whichever ran last.

Per check it lists the table, the check (its Danish description, the technical name in small
print), the delivery, the severity, the result, the observed value and the threshold. Only
profiles reach the checks (counts, bounds, codes; see pipeline/quality/profile.py), so the page
holds no person-level value."""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from pipeline import danish
from pipeline.files import atomic_write_text
from pipeline.quality.labels import Labels, load_labels
from pipeline.quality.results import RESULTS

PAGE_NAME = "index.html"
# The validations the page shows, in its order, with their headings.
SECTIONS = {
    "validate": "Kontrol af leverancerne (før beregningen)",
    "validate-marts": "Kontrol af de beregnede tabeller (efter beregningen)",
}
SEVERITY_ORDER = {"critical": 0, "warning": 1}

LATEST_SQL = f"""
    with latest as (
        select r.verb, max(q.run_id) as run_id
        from {RESULTS} q join meta.runs r using (run_id)
        where r.verb in ({", ".join("'" + verb + "'" for verb in SECTIONS)})
        group by r.verb
    )
    select latest.verb, r.started_at, q.*
    from {RESULTS} q
    join latest using (run_id)
    join meta.runs r using (run_id)
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 90em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; font-size: 13px; }
th { background: #eef2f5; text-align: left; padding: 4px 8px; border-bottom: 2px solid #888; }
td { padding: 3px 8px; border-bottom: 1px solid #ddd; vertical-align: top; }
.provmon-tech { display: block; color: #666; font-size: 0.85em; font-family: ui-monospace, monospace; }
.kritisk { color: #a40000; font-weight: bold; }
.advarsel { color: #8a5a00; font-weight: bold; }
.meta { color: #555; font-size: 0.9em; }
summary { cursor: pointer; margin: 0.5em 0; }
"""

HEADERS = ("Tabel", "Kontrol", "Leverance", "Alvor", "Resultat", "Observeret værdi", "Tærskel")


@dataclass(frozen=True)
class Section:
    verb: str
    run_id: int
    started_at: dt.datetime | None
    results: pd.DataFrame

    @property
    def breaches(self) -> pd.DataFrame:
        failed = self.results[~self.results["success"]]
        order = failed["severity"].map(SEVERITY_ORDER).fillna(9)
        return failed.assign(_order=order).sort_values(["_order", "table_name", "expectation", "file"])


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _tech(text: str | None) -> str:
    return f'<span class="provmon-tech">{html.escape(text)}</span>' if text else ""


def _text(row: pd.Series, *columns: str) -> str:
    """The first of the columns that holds text (results stored by an older provmon have no
    Danish texts: their technical ones stand in)."""
    for column in columns:
        value = row.get(column)
        if isinstance(value, str) and value:
            return value
    return danish.MISSING


def _cells(row: pd.Series, labels: Labels) -> list[str]:
    severity = labels.severity(row["severity"])
    return [
        html.escape(_capitalised(labels.table(row["table_name"]))) + _tech(row["table_name"]),
        html.escape(_text(row, "description_da", "expectation")) + _tech(row["expectation"]),
        html.escape(_text(row, "file")),
        f'<span class="{html.escape(severity)}">{html.escape(severity)}</span>',
        "i orden" if row["success"] else "<strong>brud</strong>",
        html.escape(_text(row, "observed_da", "observed_value")),
        html.escape(_text(row, "threshold_da")),
    ]


def _table(frame: pd.DataFrame, labels: Labels) -> str:
    head = "".join(f"<th>{h}</th>" for h in HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in _cells(row, labels)) + "</tr>"
        for _, row in frame.iterrows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section_html(section: Section, labels: Labels) -> str:
    results = section.results.sort_values(["table_name", "expectation", "file"], na_position="first")
    breaches = section.breaches
    critical = int((breaches["severity"] == "critical").sum())
    warnings = int((breaches["severity"] == "warning").sum())
    when = (
        f" {danish.format_date(section.started_at)} kl. {section.started_at:%H.%M}"
        if section.started_at
        else ""
    )
    parts = [
        f"<h2>{html.escape(SECTIONS[section.verb])}</h2>",
        f'<p class="meta">Kørsel {section.run_id}{when}: {danish.format_int(len(results))} kontroller, '
        f"{danish.format_int(critical)} kritiske brud, {danish.format_int(warnings)} advarsler.</p>",
    ]
    if breaches.empty:
        parts.append("<p>Ingen brud: alle kontroller er i orden.</p>")
    else:
        parts += ["<h3>Brud</h3>", _table(breaches, labels)]
    parts.append(
        f"<details><summary>Alle {danish.format_int(len(results))} kontroller</summary>"
        f"{_table(results, labels)}</details>"
    )
    return "\n".join(parts)


def sections(con: duckdb.DuckDBPyConnection) -> list[Section]:
    """The newest stored validation of each kind, in page order."""
    frame = con.execute(LATEST_SQL).df()
    out = []
    for verb in SECTIONS:
        rows = frame[frame["verb"] == verb]
        if rows.empty:
            continue
        started = rows["started_at"].iloc[0]
        out.append(
            Section(
                verb=verb,
                run_id=int(rows["run_id"].iloc[0]),
                started_at=None if pd.isna(started) else pd.Timestamp(started).to_pydatetime(),
                results=rows.drop(columns=["verb", "started_at"]).reset_index(drop=True),
            )
        )
    return out


def render(found: list[Section], labels: Labels | None = None) -> str:
    labels = labels or load_labels()
    body = "\n".join(_section_html(s, labels) for s in found) or "<p>Der er endnu ingen kontroller.</p>"
    return f"""<!DOCTYPE html>
<html lang="da">
<head>
<meta charset="utf-8">
<title>Datakvalitet</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Datakvalitet</h1>
<p class="meta">Resultatet af de seneste kontroller af leverancerne og af de beregnede tabeller.
Et kritisk brud stopper den månedlige kørsel, før tallene beregnes igen; en advarsel vises her og i
opfølgningsrapporten, og kørslen fortsætter. Det tekniske navn på tabel og kontrol står med småt.
Siden åbner uden netværk.</p>
{body}
</body>
</html>
"""


def write_page(con: duckdb.DuckDBPyConnection, quality_dir: Path) -> Path:
    """Write <quality_dir>/index.html from the newest stored results (atomically: a browser
    never sees half a page)."""
    return atomic_write_text(quality_dir / PAGE_NAME, render(sections(con)))
