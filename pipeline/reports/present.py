"""How a notebook shows things: HTML outputs that survive the export to one self-contained
file (nbconvert, code hidden) and open with no network.

plotly.js is loaded once per page by `setup()`; every figure after it is a div and a call to
the already-loaded Plotly (include_plotlyjs=False). `provmon report` passes the name of the one
copy of plotly.js it writes into the month's folder (PLOTLY_FILE), so a month's many reports
share it instead of carrying 5 MB each, and still open offline (a relative <script src> from
file://). Run by hand in Jupyter, the notebook has no such file beside it and setup() puts
plotly.js inline instead."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from IPython.display import HTML
from plotly.offline import get_plotlyjs

from pipeline import danish
from pipeline.files import atomic_write_text

STYLE = """
<style>
.provmon-table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; font-size: 13px; }
.provmon-table th { background: #eef2f5; text-align: left; padding: 4px 8px; border-bottom: 2px solid #888; }
.provmon-table td { padding: 3px 8px; border-bottom: 1px solid #ddd; vertical-align: top; }
.provmon-note { color: #444; font-style: italic; margin: 0.3em 0 1em 0; }
.provmon-box { border: 1px solid #bbb; background: #fafafa; padding: 0.6em 1em; margin: 1em 0; }
.provmon-state { font-size: 1.3em; font-weight: bold; }
</style>
"""
# No mode bar: its button titles are English and plotly.js ships no Danish locale inline; zoom
# by dragging and a double click to reset still work.
PLOT_CONFIG = {"displayModeBar": False, "responsive": True}


PLOTLY_FILE = "plotly.min.js"


def setup(plotly_src: str = "") -> HTML:
    """The one output that loads plotly.js and the table style: the first cell's output.

    plotly_src: a path relative to the exported page (PLOTLY_FILE beside it), or empty to put
    plotly.js inline (a notebook run by hand)."""
    if plotly_src:
        return HTML(f'{STYLE}<script type="text/javascript" src="{html.escape(plotly_src)}"></script>')
    return HTML(f'{STYLE}<script type="text/javascript">{get_plotlyjs()}</script>')


def write_plotly(folder: Path) -> Path:
    """Write plotly.js into `folder` as PLOTLY_FILE (to a temporary name, then renamed)."""
    return atomic_write_text(Path(folder) / PLOTLY_FILE, get_plotlyjs())


def figure(fig: go.Figure) -> HTML:
    """A figure as a div drawn by the plotly.js that setup() loaded."""
    height = int(fig.layout.height or 420)
    return HTML(
        fig.to_html(full_html=False, include_plotlyjs=False, config=PLOT_CONFIG, default_height=f"{height}px")
    )


def table(frame: pd.DataFrame, empty: str = "Ingen data for måneden.") -> HTML:
    """A table of already formatted (text) cells; escaped, without the index."""
    if frame is None or frame.empty:
        return note(empty)
    return HTML(
        frame.to_html(index=False, escape=True, classes="provmon-table", border=0, na_rep=danish.MISSING)
    )


def note(text: str) -> HTML:
    return HTML(f'<p class="provmon-note">{html.escape(text)}</p>')


def title(text: str, subtitle: str = "") -> HTML:
    sub = f"<p>{html.escape(subtitle)}</p>" if subtitle else ""
    return HTML(f"<h1>{html.escape(text)}</h1>{sub}")


def heading(text: str, level: int = 2) -> HTML:
    return HTML(f"<h{level}>{html.escape(text)}</h{level}>")


def box(heading_text: str, lines: list[str]) -> HTML:
    """A framed box of short paragraphs (the state and its reason, the data-quality summary)."""
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)
    return HTML(f'<div class="provmon-box"><h3>{html.escape(heading_text)}</h3>{body}</div>')
