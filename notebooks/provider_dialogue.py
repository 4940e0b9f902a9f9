# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (provmon)
#     language: python
#     name: provmon
# ---

# %% [markdown] tags=["remove-cell"]
# # Dialogmøde med leverandøren
#
# A note for whoever edits this notebook (tagged remove-cell, so not in the report): one
# provider (leverandør) in one month: its results against its tender areas, trends, its
# referrals, its booking state with the reason, and what it would take to move up one state.
# The other providers are anonymised unless `name_providers` is true. Logic in
# `pipeline/reports/`; `provmon report` runs this notebook for every provider.

# %% tags=["parameters"]
# `provmon report` passes its own values; opened in JupyterLab the paths are relative to
# notebooks/, where JupyterLab starts the kernel.
month = ""  # YYYY-MM, empty for the newest month in the marts
provider = "P01"
name_providers = False
marts_dir = "../data/marts"
warehouse = "../data/warehouse.duckdb"
quality_file = ""
plotly_js = ""  # plotly.js beside the exported page (provmon report), empty to put it inline

# %%
from IPython.display import display

from pipeline.reports import present
from pipeline.reports.pages import aftercare_section, attendance_section, dialogue_page, purpose_section

# %%
page = dialogue_page(marts_dir, month, provider, name_providers, quality_file, warehouse)
display(present.setup(plotly_js), present.title(page.title, page.subtitle))

# %%
for view in page.views:
    display(
        present.heading(view.title),
        present.box("Bookingtilstand", page.state_lines(view)),
        present.box("Hvad skal der til for at rykke et trin op", page.next_step(view)),
        present.heading("Resultater mod området", 3),
        present.table(page.own_results(view)),
        present.figure(page.trend(view)),
        present.figure(view.funnel()),
        present.note(view.funnel_note()),
        present.heading("Tidlig varsling", 3),
        present.figure(page.cusum(view)),
        present.note(view.cusum_note()),
        present.heading("Resultatmål opnået", 3),
        *purpose_section(view),
        present.heading("Fremmøde", 3),
        *attendance_section(view),
        present.heading("Efterværn", 3),
        *aftercare_section(view),
        present.heading("Forløb", 3),
        present.figure(page.flow(view)),
        present.figure(view.flow()),
        present.heading("Bæredygtighed, lønnede timer og pris", 3),
        present.figure(view.sustainability()),
        present.figure(view.progression()),
        present.figure(view.cost()),
        present.figure(view.states()),
    )
