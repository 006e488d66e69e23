"""Errors Fennec raises for problems a user can fix.

Every :class:`FennecError` message says what was wrong and what to do next; the CLI prints
it as one line on stderr and exits with code 2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


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


class PluginError(FennecError):
    """A plugin component raised an unexpected error; the message names the component."""


def one_line(text: object, limit: int = 400) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@contextlib.contextmanager
def plugin_errors(label: str, during: str) -> Iterator[None]:
    """Turn an unexpected exception of a plugin's code into one :class:`PluginError` naming it.

    ``label`` names the component (``factorizer 'row-mean' (my-dist 1.0)``), ``during`` what it
    was doing (``fit``). Fennec's own errors and KeyboardInterrupt pass through; ``SystemExit``
    is caught too: a plugin must not end the program.
    """
    try:
        yield
    except FennecError:
        raise
    except (Exception, SystemExit) as exc:
        raise PluginError(f"{label} failed during {during}: {type(exc).__name__}: {one_line(exc)} "
                          "(a problem in that plugin; --debug shows the traceback)") from exc
