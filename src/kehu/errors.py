"""One error hierarchy for kehu.

Library code raises these; the CLI turns them into a one-line message and a non-zero exit code, the web layer into
a 4xx response (``status``). A message names the file, row, column or value and says what to do.
"""

from __future__ import annotations


class KehuError(Exception):
    """Base class of every error kehu raises on purpose."""

    status: int = 400
    exit_code: int = 1


class InvalidInput(KehuError):
    """A value given by the user (argument, setting, cell) is not acceptable."""


class FileProblem(InvalidInput):
    """A whole input file cannot be used: unreadable, empty, not a table, a required column missing."""

    exit_code = 2


class NotFound(KehuError):
    """A named thing (customer, snapshot, import run) does not exist."""

    status = 404


class NotFitted(KehuError):
    """A model method was called before ``fit``."""


class ConvergenceError(KehuError):
    """A numerical fit did not converge."""

    status = 422


class StoreError(KehuError):
    """The store cannot be opened or is not at the expected schema version."""

    status = 503
