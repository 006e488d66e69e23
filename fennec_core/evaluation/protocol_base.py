"""What every evaluation protocol shares: the inputs it runs on, its prediction record, a base class.

A protocol is a plugin kind (``fennec_register_protocols``; the contract is
:class:`fennec_core.plugin.contracts.EvaluationProtocol`). The registry holds a factory per
protocol *name*; a spec string ``NAME[:ARGS]`` (``loo``, ``loo-warm:3``, ``search:5``) is parsed
once, by :func:`fennec_core.evaluation.runner.protocol_from_spec`, which hands ``ARGS`` to the
factory as ``args``. :class:`ProtocolBase` gives a protocol its ``name`` and the parsing of a
whole-number argument, so a new one is its ``run`` and a few lines (see docs/evaluation.md).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from fennec_core.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from fennec_core.engine import Fennec
    from fennec_core.records import History, ModelCard, TaskCard


@attrs.frozen(eq=True)
class Prediction:
    """One hidden cell of a leave-out protocol: what the engine said and what was true.

    ``score`` is the ranking's own (normalised) score, ``static`` the baseline's on the same cell;
    ``predicted``, ``low`` and ``high`` are in the task's units (NaN where the ranking has none);
    ``repeat`` is the draw of known cells (None for a protocol that does not repeat).
    """

    model: str
    task: str
    score: float
    truth: float
    static: float
    predicted: float = math.nan
    low: float = math.nan
    high: float = math.nan
    repeat: int | None = None


@attrs.frozen(eq=False)
class EvaluationInputs:
    """What a protocol runs on, prepared once by the runner: the engine (cloned per fold, never
    refit in place), the history, the cards (models with an architecture already have its meta
    features), the historical tasks' proxy embeddings, and how to run (progress bar, jobs)."""

    engine: Fennec
    history: History
    models: Sequence[ModelCard] | None = None
    tasks: Sequence[TaskCard] | None = None
    task_embeddings: Mapping[str, np.ndarray] | None = None
    progress: bool = False
    jobs: int = 1


class ProtocolBase:
    """A small base for protocols: ``usage`` (``loo-warm:K``), the ``options`` ``run`` takes and
    a ``name`` built from the parsed argument. Subclasses implement ``folds`` and ``run``."""

    #: the spec a user writes, with its argument as a placeholder (``search:K``)
    usage: ClassVar[str] = ""
    #: keyword options ``run`` accepts besides the inputs (``repeats``, ``compare``, ``strategy``)
    options: ClassVar[Collection[str]] = ()

    @property
    def name(self) -> str:
        """The spec this protocol was parsed from, as reports show it (``loo-warm:3``)."""
        return self.usage

    def __repr__(self) -> str:
        return f"<protocol {self.name}>"


def whole_arg(args: str | None, usage: str, what: str) -> int:
    """The whole number ``K >= 1`` of a spec such as ``loo-warm:K``; anything else is one
    InputError showing the usage."""
    try:
        k = int(args) if args is not None else 0
    except ValueError:
        k = 0
    if k < 1:
        head, _, placeholder = usage.partition(":")
        got = head if args is None else f"{head}:{args}"
        raise InputError(f"protocol {got!r}: expected {usage} with {placeholder or 'K'} >= 1 {what}, e.g. {head}:3")
    return k


def check_repeats(repeats: Any) -> int:
    """``repeats`` as a whole number >= 1 (draws of known cells per target), else an InputError."""
    if isinstance(repeats, bool) or not isinstance(repeats, numbers.Integral) or repeats < 1:
        raise InputError(f"repeats must be a whole number >= 1 (draws of known cells per target), got {repeats!r}")
    return int(repeats)
