"""reports/index.html: one page linking every report of every month, newest first.

Each month's folder carries a manifest.json written by `provmon report` (what it holds, with
titles); the index is rebuilt from all manifests each time, so a month reported again, or a
folder removed by hand, is reflected without any state kept elsewhere."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline import danish
from pipeline.files import atomic_write_text

MANIFEST = "manifest.json"
INDEX = "index.html"
# The data-quality page `provmon validate` writes (pipeline/quality/page.py), linked when present.
QUALITY_PAGE = "quality/index.html"

PAGE = """<!DOCTYPE html>
<html lang="da">
<head>
<meta charset="utf-8">
<title>Leverandøropfølgning: rapporter</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 70em; }}
h2 {{ border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }}
ul {{ columns: 2; }}
li {{ margin: 0.15em 0; }}
.meta {{ color: #555; font-size: 0.9em; }}
</style>
</head>
<body>
<h1>Leverandøropfølgning: rapporter</h1>
<p class="meta">Alle måneders rapporter, nyeste først. Rapporterne åbner uden netværk.</p>
{quality}{months}
</body>
</html>
"""


@dataclass
class Manifest:
    """What one month's folder holds (file names relative to the folder)."""

    month: str  # YYYY-MM
    generated_at: str
    areas: list[dict[str, str]] = field(default_factory=list)  # {key, title, file}
    providers: list[dict[str, str]] = field(default_factory=list)  # {key, title, file}
    scorecard: str = ""

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> Manifest | None:
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None  # a half-written or foreign file: the month is left out, not the index


def _links(folder: str, items: list[dict[str, str]]) -> str:
    return "".join(
        f'<li><a href="{html.escape(folder)}/{html.escape(i["file"])}">{html.escape(i["title"])}</a></li>'
        for i in items
    )


def _month_section(m: Manifest) -> str:
    parts = [f"<h2>{html.escape(danish.format_month(m.month).capitalize())}</h2>"]
    parts.append(f'<p class="meta">Dannet {html.escape(m.generated_at)}</p>')
    if m.areas:
        parts.append(f"<h3>Opfølgningsmøder pr. udbudsområde</h3><ul>{_links(m.month, m.areas)}</ul>")
    if m.providers:
        parts.append(f"<h3>Dialogmøder pr. leverandør</h3><ul>{_links(m.month, m.providers)}</ul>")
    if m.scorecard:
        link = f"{html.escape(m.month)}/{html.escape(m.scorecard)}"
        parts.append(f'<p><a href="{link}">Scorecard og beslutninger (Excel)</a></p>')
    return "\n".join(parts)


def manifests(out_dir: Path) -> list[Manifest]:
    found = [Manifest.read(p) for p in Path(out_dir).glob(f"*/{MANIFEST}")]
    return sorted((m for m in found if m is not None), key=lambda m: m.month, reverse=True)


# `provmon report --year` (annual.py) leaves this beside its reports in out_dir/<YYYY>/.
ANNUAL_MANIFEST = "annual.json"


def _annual_sections(out_dir: Path) -> list[str]:
    """The annual experience reports, newest year first (a foreign or broken file is skipped)."""
    sections = []
    for path in sorted(out_dir.glob(f"*/{ANNUAL_MANIFEST}"), reverse=True):
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
            folder = html.escape(path.parent.name)
            links = _links(path.parent.name, m["areas"])
            book = f'<p><a href="{folder}/{html.escape(m["workbook"])}">Tal og tilstande (Excel)</a></p>'
            sections.append(f"<h2>{html.escape(m['title'])}</h2><ul>{links}</ul>{book}")
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return sections


def write_index(out_dir: Path) -> Path:
    """Rebuild out_dir/index.html from every month's (and year's) manifest."""
    out_dir = Path(out_dir)
    months = manifests(out_dir)
    parts = _annual_sections(out_dir) + [_month_section(m) for m in months]
    body = "\n".join(parts) or "<p>Ingen rapporter endnu.</p>"
    quality = (
        f'<p><a href="{QUALITY_PAGE}">Datakvalitet: alle kontroller af leverancerne og de beregnede '
        "tabeller</a></p>\n"
        if (out_dir / QUALITY_PAGE).is_file()
        else ""
    )
    return atomic_write_text(out_dir / INDEX, PAGE.format(quality=quality, months=body))
