"""Problems with the inputs of a decision that a user can act on."""

from pipeline.errors import ProvmonError


class DecisionInputError(ProvmonError):
    """The marts or outcomes given to the decision step are incomplete or inconsistent
    (a missing column, a duplicated provider row, months out of order)."""


class OverrideError(ProvmonError):
    """A person's override cannot be recorded as given (unknown state, no reason, nothing to
    override)."""
