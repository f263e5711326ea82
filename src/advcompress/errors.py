"""Errors a user fixes by hand: the CLI prints their one-line message instead of a traceback.

Every such error is a `UserError`; `advcompress` prints `advcompress <command>: error: <message>`
on one line and exits with status 2 (argparse's own usage errors look and exit the same).
Anything else is a bug in the project and keeps its traceback.

Kept free of heavy imports, so that catching them costs the table and figure jobs no torch import.
"""


class UserError(Exception):
    """A problem with what the user gave (a file, a name, a setting); its message says what and where."""


class DataError(UserError, RuntimeError):
    """A dataset problem a user must fix by hand; its message says what and where."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, unreadable or does not fit its architecture: one line for the user."""


class UnknownNameError(UserError, KeyError):
    """A name that no registry holds (codec, attack, ...); the message lists the registered ones."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""
