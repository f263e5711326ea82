"""Errors a user fixes by hand: the CLI prints their one-line message instead of a traceback.

Kept free of heavy imports, so that catching them costs the table and figure jobs no torch import.
"""


class DataError(RuntimeError):
    """A dataset problem a user must fix by hand; its message says what and where."""


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not fit its architecture: one line for the user."""
