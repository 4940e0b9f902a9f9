"""provmon: the monthly provider-results monitor (leverandøropfølgning) of a Danish
municipal employment administration. See README.md and docs/."""

__version__ = "0.1.0"
