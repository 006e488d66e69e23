"""Hook specifications: the contract between Fennec's core and its plugins.

A plugin is a module (or object) with functions decorated by ``fennec_core.hookimpl`` whose
names match the specs below. Each hook receives ``register``, a callback owned by the core:
``register(name, factory)`` where ``factory(**config)`` builds one component. Built-in
plugins in ``fennec_plugins`` use exactly these hooks.

Hooks are always called with keyword arguments, so an implementation may accept fewer
arguments than the spec declares; new arguments are only ever added, never changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("fennec")

Register = Callable[[str, Callable[..., Any]], None]

# -------------------------------------------------------------------------
# Architecture side: models become vectors
# -------------------------------------------------------------------------


@hookspec
def fennec_register_graph_encoders(register: Register) -> None:
    """Register graph encoders: components mapping architecture graphs to vectors.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns an
        object following :class:`fennec_core.plugin.contracts.GraphEncoder`.
    """


# -------------------------------------------------------------------------
# Task side: a new task becomes a vector in the transfer space
# -------------------------------------------------------------------------


@hookspec
def fennec_register_task_proxies(register: Register) -> None:
    """Register task proxies: components embedding a task's unlabeled inputs.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns an
        object following :class:`fennec_core.plugin.contracts.TaskProxy`.
    """


# -------------------------------------------------------------------------
# History side: the model x task table becomes a transfer space
# -------------------------------------------------------------------------


@hookspec
def fennec_register_factorizers(register: Register) -> None:
    """Register factorizers: components splitting the history ``P ~ U V^T``.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns an
        object following :class:`fennec_core.plugin.contracts.Factorizer`.
    """


@hookspec
def fennec_register_score_mergers(register: Register) -> None:
    """Register score mergers: components combining transfer and meta scores.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns an
        object following :class:`fennec_core.plugin.contracts.ScoreMerger`.
    """


# -------------------------------------------------------------------------
# Forward-pass transferability estimators (LogME, LEEP, ...)
# -------------------------------------------------------------------------


@hookspec
def fennec_register_estimators(register: Register) -> None:
    """Register transferability estimators scoring features against labels.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns an
        object following :class:`fennec_core.plugin.contracts.Estimator`.
    """


# -------------------------------------------------------------------------
# Whole ranking methods (the Fennec pipeline is one; Model Spider another)
# -------------------------------------------------------------------------


@hookspec
def fennec_register_rankers(register: Register) -> None:
    """Register rankers: whole methods that score every model of a zoo for a new task.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns an
        object following :class:`fennec_core.plugin.contracts.Ranker`. The engine fits its
        transfer space first and hands itself to ``Ranker.fit``, so a ranker may use the
        history, the fitted model vectors, the model features and the task embeddings.
    """


__all__ = [
    "Register",
    "hookspec",
    "fennec_register_graph_encoders",
    "fennec_register_task_proxies",
    "fennec_register_factorizers",
    "fennec_register_score_mergers",
    "fennec_register_estimators",
    "fennec_register_rankers",
]

