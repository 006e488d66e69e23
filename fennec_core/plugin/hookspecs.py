"""Hook specifications: the contract between Fennec's core and its plugins.

A plugin is a module (or object) with functions decorated by ``fennec_core.hookimpl`` whose
names match the specs below. Each hook receives ``register``, a callback owned by the core:
``register(name, factory)`` where ``factory(**config)`` builds one component. Built-in
plugins in ``fennec_plugins`` use exactly these hooks.

Hooks are always called with keyword arguments, so an implementation may accept fewer
arguments than the spec declares; new arguments are only ever added, never changed.

What a component must do, and may do, is written as typing Protocols in
:mod:`fennec_core.plugin.contracts`; the engine checks the required one when it builds a
component and asks for an optional capability only through ``contracts.supports``. A
factory whose signature takes ``device`` or ``seed`` gets the engine's. Components that
learn from a fitted zoo receive a :class:`fennec_core.zoo.FittedZoo` -- never the engine.
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

    Called once, when the registry first loads plugins.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns a
        :class:`~fennec_core.plugin.contracts.GraphEncoder`: ``fit(graphs)`` learns from the
        zoo's :class:`~fennec_core.records.ArchGraph` list when a zoo is fitted with
        ``archi=``; ``transform(graphs)`` returns one vector per graph, for the zoo's models
        and later for new models (``add_architectures``). Optional: ``Configured``
        (``config()``: its full JSON settings, recorded with the encoding) and ``EncoderState``
        (``state()`` / ``load_state(arrays)`` keep learned weights as arrays in the store;
        without them the encoder is refit on the stored graphs and must reproduce the stored
        vectors). Built by the engine's registry (``Registry.build`` checks the contract).
    """


# -------------------------------------------------------------------------
# Task side: a new task becomes a vector in the transfer space
# -------------------------------------------------------------------------


@hookspec
def fennec_register_task_proxies(register: Register) -> None:
    """Register task proxies: components embedding a task's unlabeled inputs.

    Called once, when the registry first loads plugins.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns a
        :class:`~fennec_core.plugin.contracts.TaskProxy`: ``embed(inputs)`` returns an
        ``[n_items, d]`` array for a folder of images or a list of texts. It is called at
        ``fit(task_images=...)`` for every historical task and at ``rank(images=...)`` /
        ``rank(description=...)`` for a new one. Weights are read from local files only.
        Optional: ``Specified`` (``spec()`` returns the JSON the zoo records to rebuild the
        same proxy) and ``Modal`` (``modality``: ``"text"`` or ``"images"``, the default; read
        from the built proxy). Built once per engine, by its registry.
    """


# -------------------------------------------------------------------------
# History side: the model x task table becomes a transfer space
# -------------------------------------------------------------------------


@hookspec
def fennec_register_factorizers(register: Register) -> None:
    """Register factorizers: components splitting the history ``P ~ U V^T``.

    Called once, when the registry first loads plugins.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns a
        :class:`~fennec_core.plugin.contracts.Factorizer`: ``fit(P, mask)`` is called at every
        fit (and per candidate ``k`` when ``k="auto"``, if the factory takes ``k``) and
        returns :class:`~fennec_core.records.Factors`; ``fold_in(factors, observed, mask)``
        places a new task from its known normalised scores (warm start, ``update``). Optional
        capabilities: ``NonNegative`` (needs min-max scores), ``PriorFoldIn`` (``fold_in``
        shrinks toward a prior), ``PosteriorFactorizer`` (intervals, ``explore``, Bayesian
        warm start), ``ModelFoldIn`` (``update`` folds in new models), ``LatentSize`` (``k``;
        a fitted factorizer writes it as ``Factors.info["k"]``).
    """


@hookspec
def fennec_register_score_mergers(register: Register) -> None:
    """Register score mergers: components combining transfer and meta scores.

    Called once, when the registry first loads plugins.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns a
        :class:`~fennec_core.plugin.contracts.ScoreMerger`: ``merge(parts)`` is called for
        every ranking with ``{"transfer": ..., "meta": ...}`` (``meta`` absent when the zoo
        has no model features) and returns the final scores. Optional capabilities:
        ``ScoreLike`` (the output is still a predicted score, so predictions and intervals
        are shown in the task's units), ``FittableMerger`` (``fit(zoo)`` after every fit and
        update), ``Stateful`` (its fitted state is stored, so loading fits nothing).
    """


# -------------------------------------------------------------------------
# Forward-pass transferability estimators (LogME, LEEP, ...)
# -------------------------------------------------------------------------


@hookspec
def fennec_register_estimators(register: Register) -> None:
    """Register transferability estimators scoring features against labels.

    Called once, when the registry first loads plugins.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns an
        :class:`~fennec_core.plugin.contracts.Estimator`: ``score(features=, labels=,
        probs=)`` is called by ``build-history`` per (model, task) pair and by re-ranking,
        and returns one float, higher meaning better transfer.
    """


# -------------------------------------------------------------------------
# Probing: frozen feature extractors with real weights on this machine
# -------------------------------------------------------------------------


@hookspec
def fennec_register_backbones(register: Register) -> None:
    """Register backbones: model ids mapped to frozen feature extractors with local weights.

    Called once, when the registry first loads plugins.

    :param register: call ``register(name, factory)``; ``name`` is a model id (``mobilenet-v2``)
        or a scheme (``torchvision``, then ``factory(arch=...)`` builds ``torchvision:ARCH``);
        ``factory(allow_download=, batch_size=, device=)`` returns a
        :class:`~fennec_core.plugin.contracts.Backbone`: ``encode(inputs)`` returns an
        :class:`~fennec_core.plugin.contracts.Encoded` (features, optional source softmax) for a
        list of images or texts, and ``modality`` says which. ``fennec probe`` calls it on the
        user's labelled sample. Weights are read from local files only unless
        ``allow_download``; random "pretrained" weights must be refused. Optional ``locate()``
        returns the weights file (or raises), so a missing file fails before any forward pass.
    """


# -------------------------------------------------------------------------
# Whole ranking methods (the Fennec pipeline is built in; Model Spider is another)
# -------------------------------------------------------------------------


@hookspec
def fennec_register_rankers(register: Register) -> None:
    """Register rankers: whole methods that score every model of a zoo for a new task.

    Called once, when the registry first loads plugins. ``Fennec(ranker="fennec")`` (the
    default) is the built-in pipeline and needs no plugin.

    :param register: call ``register(name, factory)``; ``factory(**config)`` returns a
        :class:`~fennec_core.plugin.contracts.Ranker`. ``fit(zoo)`` is called after the
        transfer space is fitted (at every fit and refit) with the
        :class:`~fennec_core.zoo.FittedZoo`: its history, model vectors, model features and
        task embeddings; ``scores(zoo, task_embeddings)`` returns one score per model of
        ``zoo`` (higher is better) at every ``rank``. Optional ``Stateful`` keeps the trained
        ranker in the store.
    """


# -------------------------------------------------------------------------
# Evaluation: how a configuration is judged (leave one task out, search, ...)
# -------------------------------------------------------------------------


@hookspec
def fennec_register_protocols(register: Register) -> None:
    """Register evaluation protocols: ways to judge a configuration on a history.

    Called once, when the registry first loads plugins.

    :param register: call ``register(name, factory)``; ``fennec evaluate --protocol
        NAME[:ARGS]`` calls ``factory(args="ARGS")`` (``factory()`` when the spec has no
        ``:ARGS`` and the factory takes no ``args``) and gets an
        :class:`~fennec_core.plugin.contracts.EvaluationProtocol`: ``name`` (the spec reports
        show), ``options`` (keyword options ``run`` takes), ``folds(history, tasks)`` (what
        each fold hides) and ``run(data, **options)``, called with the prepared
        :class:`~fennec_core.evaluation.protocol_base.EvaluationInputs`; it returns a report
        (``to_dict()``, ``format_table()``, ``write_predictions(path)``, ``predictions``).
        Optional class attributes ``usage`` (``loo-warm:K``) and ``options`` on the factory
        let error messages and ``--protocol list`` describe it before it is built.
    """


__all__ = [
    "Register",
    "hookspec",
    "fennec_register_graph_encoders",
    "fennec_register_task_proxies",
    "fennec_register_factorizers",
    "fennec_register_score_mergers",
    "fennec_register_estimators",
    "fennec_register_backbones",
    "fennec_register_rankers",
    "fennec_register_protocols",
]
