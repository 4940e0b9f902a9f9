"""Errors a user can cause. The CLI turns these into one line and a non-zero exit;
anything else is a bug and shows its traceback only with --debug."""


class ProvmonError(Exception):
    """A problem the user can act on; the message says what to do."""


class ConfigError(ProvmonError):
    """A configuration or rule file is invalid."""


class UnreadableFileError(ProvmonError):
    """A delivery cannot be read at all; nothing of it is loaded."""
