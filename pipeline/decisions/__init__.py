"""Booking decisions (decisions.md): Model A, today's booking stop, and Model B, the soft
transition, proposed every month for every provider and tender area, with a Danish reason,
the rule version, a person's override beside the proposal, and the allocation of new referrals.

The logic is pure (plain records and DataFrames in, rows out) so it is tested on hand-made
months and replayed by the back-test; reading and writing the warehouse is the CLI's job.
See README.md in this folder for the rule file."""

from pipeline.decisions.allocation import (
    Allocation,
    allocate,
    largest_remainder,
)
from pipeline.decisions.backtest import BacktestResult, backtest
from pipeline.decisions.cohort import CohortSource, NoCohorts
from pipeline.decisions.engine import (
    DECISION_COLUMNS,
    DecisionRow,
    MonthDecisions,
    MonthInput,
    ProviderMemory,
    decide_month,
    decisions_frame,
    memory_from_frame,
)
from pipeline.decisions.errors import DecisionInputError, OverrideError
from pipeline.decisions.evidence import Evidence
from pipeline.decisions.hard import HardMemory, LiftCohort
from pipeline.decisions.inputs import REQUIRED_COLUMNS, ProviderMonth, primary_rows, primary_rows_by_month
from pipeline.decisions.overrides import (
    OVERRIDE_COLUMNS,
    Override,
    make_override,
    overrides_frame,
    overrides_from_frame,
)
from pipeline.decisions.reasons import Templates, load_templates
from pipeline.decisions.rules import HardState, Model, Rules, SoftState, load_rules
from pipeline.decisions.soft import SoftMemory

__all__ = [
    "DECISION_COLUMNS",
    "OVERRIDE_COLUMNS",
    "REQUIRED_COLUMNS",
    "Allocation",
    "BacktestResult",
    "CohortSource",
    "DecisionInputError",
    "DecisionRow",
    "Evidence",
    "HardMemory",
    "HardState",
    "LiftCohort",
    "Model",
    "MonthDecisions",
    "MonthInput",
    "NoCohorts",
    "Override",
    "OverrideError",
    "ProviderMemory",
    "ProviderMonth",
    "Rules",
    "SoftMemory",
    "SoftState",
    "Templates",
    "allocate",
    "backtest",
    "decide_month",
    "decisions_frame",
    "largest_remainder",
    "load_rules",
    "load_templates",
    "make_override",
    "memory_from_frame",
    "overrides_frame",
    "overrides_from_frame",
    "primary_rows",
    "primary_rows_by_month",
]
