"""Errors Fennec raises for problems a user can fix.

Every :class:`FennecError` message says what was wrong and what to do next; the CLI prints
it as one line on stderr and exits with code 2.
"""

from __future__ import annotations


class FennecError(Exception):
    """A problem with the user's input or setup, explained in the message."""


class InputError(FennecError, ValueError):
    """Malformed input data: a CSV, a score table, a task description."""


class UnknownComponentError(FennecError, KeyError):
    """A component name that no plugin registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else ""


class RegistrationError(FennecError):
    """Two plugins registered the same name, or a registration is malformed."""


class StoreError(FennecError):
    """A Zarr store that is missing, foreign, corrupt, truncated or from a newer schema."""


class MissingDependencyError(FennecError, ImportError):
    """An optional dependency a component needs is not installed."""
