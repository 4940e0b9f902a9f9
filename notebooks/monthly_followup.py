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
# # Månedlig leverandøropfølgning
#
# A note for whoever edits this notebook (tagged remove-cell, so not in the report): one
# tender area (udbudsområde) in one month, for the follow-up meeting. The logic lives in
# `pipeline/reports/`; the cells below only call it and show the result. `provmon report`
# runs this notebook for every tender area; an analyst can run it by hand with other values.

# %% tags=["parameters"]
# `provmon report` passes its own values. Opened in JupyterLab, month and tender area come from
# PROVMON_MONTH and PROVMON_AREA (see the README), and the paths are relative to notebooks/,
# where JupyterLab starts the kernel.
import os

month = os.environ.get("PROVMON_MONTH", "")  # YYYY-MM, empty for the newest month in the marts
tender_area = int(os.environ.get("PROVMON_AREA", "1"))
marts_dir = "../data/marts"
warehouse = "../data/warehouse.duckdb"
quality_file = ""  # run-log snapshot written by provmon report, empty to read the warehouse
plotly_js = ""  # plotly.js beside the exported page (provmon report), empty to put it inline

# %%
from IPython.display import display

from pipeline.decisions.rules import Model
from pipeline.reports import present
from pipeline.reports.pages import aftercare_section, attendance_section, followup_page, purpose_section

# %%
page = followup_page(marts_dir, month, tender_area, quality_file, warehouse)
view = page.view
display(present.setup(plotly_js), present.title(page.title, page.subtitle))

# %% [markdown]
# ## Overblik over leverandørerne

# %%
display(present.table(view.overview()))

# %% [markdown]
# ## Hvad har ændret sig siden sidste måned

# %%
display(present.table(view.changes()))

# %% [markdown]
# ## Bookingforslag
# Begge modeller beregnes hver måned; mødet beslutter. Blid overgang er den viste model.
# Skærpet opfølgning kræver en skriftlig handlingsplan; mødet registrerer, når den er modtaget.

# %%
display(
    present.heading(view.model_name(Model.SOFT), 3),
    present.table(view.decisions_table(Model.SOFT), "Ingen bookingforslag for måneden: kør provmon decide."),
    present.heading(view.model_name(Model.HARD), 3),
    present.note(view.assumed_threshold_note()),
    present.table(view.decisions_table(Model.HARD), "Ingen bookingforslag for måneden: kør provmon decide."),
    present.heading("Handlingsplaner", 3),
    present.table(view.action_plans(), "Ingen leverandør i området skal aflevere en handlingsplan i måneden."),
    present.figure(view.states(Model.SOFT)),
)

# %% [markdown]
# ## Udvikling og tragtplot

# %%
display(present.figure(view.trend()), present.figure(view.funnel()), present.note(view.funnel_note()))

# %% [markdown]
# ## Tidlig varsling

# %%
display(present.figure(view.cusum()), present.note(view.cusum_note()), present.table(view.cusum_table()))

# %% [markdown]
# ## Resultatmål opnået
# Afsluttede forløb med et resultat, der svarer til formålet ved bookingen.

# %%
display(*purpose_section(view))

# %% [markdown]
# ## Fremmøde
# Stabilt fremmøde i afsluttede forløb og det gennemsnitlige fremmøde i mentorforløb.

# %%
display(*attendance_section(view))

# %% [markdown]
# ## Efterværn
# Efterværn følges for sig og indgår ikke i de andre resultatmål.

# %%
display(*aftercare_section(view))

# %% [markdown]
# ## Bæredygtighed og lønnede timer

# %%
display(
    present.figure(view.sustainability()),
    present.table(view.rates_table(view.config.measures.sustainability)),
    present.figure(view.progression()),
)

# %% [markdown]
# ## Raskmeldinger og bevillinger

# %%
if page.shows_fit:
    display(present.figure(view.fit()), present.table(view.rates_table(view.config.measures.fit)))
if page.shows_rehab:
    display(present.figure(view.rehab()), present.table(view.rehab_types()))
if not (page.shows_fit or page.shows_rehab):
    display(present.note("Raskmeldinger og bevillinger følges ikke i dette udbudsområde."))

# %% [markdown]
# ## Pris pr. resultat og forløb

# %%
display(present.figure(view.cost()), present.table(view.cost_table()), present.figure(view.flow()))

# %% [markdown]
# ## Fordeling af nye henvisninger

# %%
display(present.note(view.allocation_note()), present.table(view.allocation()))

# %% [markdown]
# ## Datakvalitet

# Hvad der er indlæst, hvad der er sat i karantæne, og hvilke kontroller der gav brud. Antallene er
# rækker i leverancerne, ikke borgere, og vises præcist.

# %%
display(page.quality_section())
