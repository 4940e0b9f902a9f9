"""Reports (outputs.md, "Notebooks and reports"): the monthly follow-up per tender area, the
provider dashboards and the scorecard workbook, all in Danish and under disclosure control.

`report(settings, month, name_providers)` is what `provmon report` calls. The notebooks in
notebooks/ call pages.py; pages build views.py, which turn the marts (data.py) into protected
(disclosure.py) tables and Plotly charts (charts.py)."""

from pipeline.reports.report import ReportSummary, report

__all__ = ["ReportSummary", "report"]
