"""The Fennec engine: settings and components around one fitted-zoo record.

Pipeline (arXiv 2403.06382; see docs/architecture.md), a package per stage: ``history/``
(normalise, choose ``k``, factorize ``P ~ U V^T``, fit the meta model; fold new cells in later),
``architecture/`` (model features, vectors of models without history), ``task/`` (a new task
placed from what is known about it: :mod:`fennec_core.task.request`), ``scoring/`` (``U v`` on
the device, the meta part, the *score merger*, intervals, the order).

:class:`Fennec` holds its settings (the constructor's parameters, :meth:`Fennec.get_params`),
its components and, once fitted, ``zoo_``: a :class:`fennec_core.zoo.FittedZoo`. Plugins see
that record, never the engine. No global state; every component comes from the engine's registry.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from fennec_core import checks
from fennec_core.errors import FennecError, plugin_errors
from fennec_core.plugin.contracts import FittableMerger, NonNegative, Stateful, supports
from fennec_core.plugin.registry import Registry, default_registry
from fennec_core.records import History, ModelCard, Ranking, TaskCard
from fennec_core.scoring.filters import Within
from fennec_core.task.encoders import Encoders, RegistryBuilder
from fennec_core.zoo import ComponentState, FittedZoo

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.scoring.suggest import Suggestions
    from fennec_core.task.request import TaskRequest

#: The ``ranker`` setting that means this pipeline itself (no ranker plugin).
PIPELINE = "fennec"


@attrs.frozen(eq=False)
class Components:
    """The engine's built components: a factorizer, a score merger, and a ranker plugin or None."""

    factorizer: Any
    merger: Any
    ranker: Any = None


class Fennec:
    """Recommend pre-trained models for a new task from a history of model x task results.

    Components are chosen by registered name plus a config dict, e.g.
    ``Fennec(factorizer="nmf", factorizer_config={"k": 5}, score_merger="weighted")``.
    ``device="auto"`` uses CUDA when present. ``seed`` makes every fitted part deterministic.
    ``normalization="auto"``: ``minmax`` for factorizers that need non-negative scores
    (``nmf``), ``zscore`` otherwise. ``warm_strength``: how strongly a warm-start fold-in is
    held to the cold task vector; ``"auto"`` picks it on the history. ``task_mapping``: how
    proxy embeddings map to task vectors. ``ranker``: ``"fennec"`` (this pipeline) or a
    registered ranker such as ``"model-spider"``.
    """

    def __init__(
        self,
        factorizer: str = "pmf",
        score_merger: str = "weighted",
        *,
        factorizer_config: dict[str, Any] | None = None,
        score_merger_config: dict[str, Any] | None = None,
        normalization: str = "auto",
        use_meta: bool = True,
        warm_strength: float | str = "auto",
        device: str = "auto",
        seed: int = 0,
        registry: Registry | None = None,
        task_mapping: str = "kernel-ridge",
        ranker: str = PIPELINE,
        ranker_config: dict[str, Any] | None = None,
    ) -> None:
        checks.check_settings(factorizer, score_merger, ranker, use_meta, seed, device, normalization, warm_strength,
                              task_mapping, (factorizer_config, score_merger_config, ranker_config))
        self.factorizer, self.score_merger, self.ranker = factorizer, score_merger, ranker
        self.factorizer_config = dict(factorizer_config or {})
        self.score_merger_config = dict(score_merger_config or {})
        self.ranker_config = dict(ranker_config or {})
        self.normalization, self.use_meta, self.warm_strength = normalization, use_meta, warm_strength
        self.device, self.seed, self.registry, self.task_mapping = device, seed, registry, task_mapping
        # Build now so a bad name or config fails before any fitting.
        auto_k = {**self.factorizer_config, "k": 1} if self.factorizer_config.get("k") == "auto" else None
        self.components = Components(  # k="auto" builds with a placeholder k, chosen by CV at fit
            self._build("factorizer", factorizer, auto_k or self.factorizer_config),
            self._build("score_merger", score_merger, self.score_merger_config),
            None if ranker == PIPELINE else self._build("ranker", ranker, self.ranker_config),
        )
        #: the fitted zoo (None until :meth:`fit` or :meth:`load`)
        self.zoo_: FittedZoo | None = None
        self._mapper: tuple[FittedZoo, Any] | None = None  # the task mapping, learned on first use
        #: the task proxies (text, image encoders) this engine built through its registry, each once
        self.encoders = Encoders(RegistryBuilder(registry, device=device, seed=seed))
        self._origin: tuple[str, str | None] | None = None  # (store path, generation) last loaded or saved

    # -- parameters (scikit-learn style) ----------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters, read from its signature (the one list of them)."""
        return {name: getattr(self, name) for name in inspect.signature(type(self)).parameters}

    def clone(self, **changes: Any) -> Fennec:
        """A new, unfitted engine with this one's parameters (``changes`` replace some)."""
        return type(self)(**{**self.get_params(), **changes})

    @property
    def resolved_normalization(self) -> str:
        """The normalisation in use: ``normalization``, with ``auto`` resolved for the factorizer."""
        if self.normalization != "auto":
            return self.normalization
        return "minmax" if supports(self.components.factorizer, NonNegative) else "zscore"

    def _build(self, kind: str, name: str, config: dict[str, Any]) -> Any:
        return (self.registry or default_registry()).build(kind, name, config, device=self.device, seed=self.seed)

    def _guard(self, kind: str, during: str) -> Any:  # a component's unexpected error -> one PluginError naming it
        return plugin_errors((self.registry or default_registry()).label(kind, getattr(self, kind)), during)

    def check_is_fitted(self) -> FittedZoo:
        """The fitted zoo; an unfitted engine raises one FennecError saying what to do."""
        if self.zoo_ is None:
            raise FennecError("this Fennec is not fitted yet: call fit(history) or Fennec.load(path) first")
        return self.zoo_

    # -- fitting ------------------------------------------------------------------------------------

    def fit(
        self,
        history: History | str | os.PathLike[str],
        models: Sequence[ModelCard] | str | os.PathLike[str] | None = None,
        tasks: Sequence[TaskCard] | str | os.PathLike[str] | None = None,
        *,
        task_embeddings: Mapping[str, np.ndarray] | None = None,
        proxy: Mapping[str, Any] | str | None = None,
        proxy_config: Mapping[str, Any] | None = None,
        task_images: str | os.PathLike[str] | None = None,
        images_per_task: int = 100,
        archi: Any = None,
        progress: bool = False,
    ) -> Fennec:
        """Fit the transfer space and meta model on ``history`` (a History or a CSV path).

        ``models`` / ``tasks``: cards (or CSV paths) with meta features; models of the history
        missing from ``models`` get a card with no features. Cards with an ``architecture``
        reference get its meta features (parameters, layers, depth, FLOPs, input size) where
        they lack them. ``archi``: an :class:`fennec_core.architecture.encoding.ArchiSpec` (or
        a graph encoder name) adding archi2vec features too, or an already fitted
        ``ArchiEncoding`` whose features the cards carry (kept so new models are encoded in
        its basis).
        A task proxy lets new tasks be ranked from their images or embeddings: either
        ``task_embeddings`` (``{task id: [n_items, d]}``, with ``proxy`` the spec of the proxy
        that made them), or ``task_images`` (a folder with one subfolder per task id) embedded
        here by the proxy named ``proxy`` (default ``clip``) with ``proxy_config``. Returns ``self``.
        """
        from fennec_core.architecture.encoding import fit_model_cards
        from fennec_core.io.tables import as_cards, as_history
        from fennec_core.task.proxies import historical_task_embeddings

        hist = as_history(history)
        model_cards, encoding = fit_model_cards(hist, as_cards(models, "models"), archi, progress=progress,
                                                registry=self.registry)
        task_cards = {c.id: c for c in as_cards(tasks, "tasks")}
        embeddings, proxy_spec = historical_task_embeddings(
            list(hist.task_ids), task_embeddings, encoders=self.encoders, task_images=task_images, proxy=proxy, proxy_config=proxy_config,
            images_per_task=images_per_task, device=self.device, progress=progress)
        self._fit_zoo(hist,
                      {m: model_cards.get(m, ModelCard(m)) for m in hist.model_ids},
                      {**task_cards, **{t: task_cards.get(t, TaskCard(t)) for t in hist.task_ids}},
                      task_embeddings=embeddings, proxy=proxy_spec, archi=encoding, progress=progress)
        return self

    def _fit_zoo(self, history: History, models: dict[str, ModelCard], tasks: dict[str, TaskCard],
                 progress: bool = False, **record: Any) -> None:
        from fennec_core.history.fitting import fit_zoo

        zoo, factorizer = fit_zoo(
            history, models, tasks, factorizer=self.components.factorizer,
            make_factorizer=lambda cfg: self._build("factorizer", self.factorizer, cfg),
            factorizer_config=self.factorizer_config, normalization=self.resolved_normalization,
            use_meta=self.use_meta, seed=self.seed, guard=self._guard("factorizer", "fit"), progress=progress,
            **record)
        self.components = attrs.evolve(self.components, factorizer=factorizer)
        if self.components.ranker is not None:
            from fennec_core.zoo import train_ranker

            with self._guard("ranker", "fit"):
                zoo = train_ranker(zoo, self.components.ranker, self.ranker, self.ranker_config)
        fixed = None if self.warm_strength == "auto" else float(self.warm_strength)
        self._set_zoo(zoo.with_changes(warm_strength=fixed))

    def adopt(self, zoo: FittedZoo, *, origin: tuple[str, str | None] | None = None) -> None:
        """Hold ``zoo`` (read from the store at ``origin``: its path and generation): a fittable merger
        without stored state is fitted on it (stores written before merger state was kept)."""
        self._set_zoo(zoo, fit_merger=zoo.merger_state is None)
        self._origin = origin

    def _set_zoo(self, zoo: FittedZoo, *, fit_merger: bool = True) -> None:
        """Adopt ``zoo``: fit a fittable merger on it and keep the merger's state in the record."""
        merger = self.components.merger
        if fit_merger and supports(merger, FittableMerger):
            with self._guard("score_merger", "fit"):
                merger.fit(zoo)
            zoo = zoo.with_changes(merger_state=ComponentState(*merger.state()) if supports(merger, Stateful)
                                   else ComponentState())
        self.zoo_ = zoo

    def add_ranker(self, ranker: str, config: dict[str, Any] | None = None) -> Fennec:
        """Train the ranker plugin ``ranker`` (with ``config``) on the fitted zoo, its transfer space
        kept, and hold it in ``zoo_.rankers`` beside any other: after :meth:`save`,
        ``Fennec.load(path, ranker=NAME)`` ranks with it. Returns ``self``."""
        from fennec_core.zoo import train_ranker

        built, config = self._build("ranker", ranker, dict(config or {})), dict(config or {})
        with plugin_errors((self.registry or default_registry()).label("ranker", ranker), "fit"):
            self.zoo_ = train_ranker(self.check_is_fitted(), built, ranker, config)
        return self

    # -- the new task's vector --------------------------------------------------------------------

    def map_task(self, embeddings: np.ndarray) -> np.ndarray:
        """A new task's vector from its items' proxy embeddings, by the ``task_mapping`` (random forest,
        kernel ridge or kNN) learned from the historical tasks' embeddings and vectors on first use."""
        return self.task_mapper().predict(embeddings)

    def task_mapper(self) -> Any:
        """The fitted :class:`fennec_core.task.mapping.TaskMapper` of the zoo's task embeddings."""
        from fennec_core.task.mapping import TaskMapper

        zoo = self.check_is_fitted()
        if self._mapper is None or self._mapper[0] is not zoo:
            self._mapper = (zoo, TaskMapper.for_zoo(zoo, self.task_mapping, seed=self.seed))
        return self._mapper[1]

    def describe_vector(self, description: str, *, proxy: Any = None) -> np.ndarray:
        """A task vector for a task described in words, placed among the zoo's described tasks
        by the engine's task mapping (the zoo's text proxy, or ``proxy``, embeds every description)."""
        from fennec_core.task.proxies import describe_vector
        from fennec_core.task.request import description_encoder

        return describe_vector(self.check_is_fitted(), description, mapping=self.task_mapping, seed=self.seed,
                               proxy=proxy or description_encoder(self))

    def resolved_warm_strength(self) -> float:
        """The warm-start shrinkage in use, chosen on the history the first time (then kept in
        the zoo record and its store; see :func:`fennec_core.task.vector.choose_warm_strength`)."""
        zoo = self.check_is_fitted()
        if zoo.warm_strength is None:
            from fennec_core.task.vector import choose_warm_strength

            strength = choose_warm_strength(zoo, self.components.factorizer, seed=self.seed)
            self.zoo_ = zoo = zoo.with_changes(warm_strength=strength)
        return float(zoo.warm_strength)  # type: ignore[arg-type]

    # -- ranking ------------------------------------------------------------------------------------

    def rank(
        self, task: TaskRequest | TaskCard | str | None = None, *, task_vector: np.ndarray | None = None,
        known: Mapping[str, float] | None = None, top: int | None = None, explore: bool = False,
        task_embeddings: np.ndarray | None = None, task_vector_cov: np.ndarray | None = None,
        images: str | os.PathLike[str] | None = None, images_per_task: int = 100, description: str | None = None,
        progress: bool = False, card: Mapping[str, str] | None = None, where: Any = None, probes: Any = None,
    ) -> Ranking:
        """Rank every model for one new task.

        ``task``: a TaskCard (or id; a task of the zoo uses its card) with what is known about
        the task (classes, size), or a whole :class:`fennec_core.task.request.TaskRequest`. What
        places the task -- at most one of: ``task_vector`` (from elsewhere), ``task_embeddings``
        (its items embedded by the zoo's proxy, [n_items, d]), ``images`` (a folder the zoo's
        proxy embeds), ``description`` (words, through the zoo's text proxy). ``known``: ``{model
        id: score}`` already measured (warm start), in the history's units; it combines with any of
        those. With none of them the Ranking is cold (the mean task vector). ``explore``: rank by
        the optimistic (upper 90%) end of each interval. ``task_vector_cov``: the covariance of a
        given ``task_vector``, for intervals with a posterior factorizer. ``card``: categorical values
        set in the task card's attributes; ``where``: a model filter (filters.py). ``probes``: ``{model:
        {estimator: score}}`` measured on the task's own data, fused (:mod:`fennec_core.scoring.probes`)."""
        from fennec_core.task.request import as_request, place

        zoo = self.check_is_fitted()
        checks.check_top(top)
        placed = place(self, as_request(task, task_vector=task_vector, known=known, task_embeddings=task_embeddings,
                                        task_vector_cov=task_vector_cov, images=images, images_per_task=images_per_task,
                                        description=description, progress=progress, card=card, probes=probes))
        within = Within(zoo.models, where, top)
        if self.components.ranker is not None:
            from fennec_core.scoring.ranking import rank_with_ranker

            return within(rank_with_ranker(zoo, self.components.ranker, self.ranker, placed.card,
                                           placed.task_embeddings, top=within.top, notes=placed.notes,
                                           unsupported=[n for n, v in (("task_vector", placed.task_vector is not None),
                                                        ("known", bool(placed.known)), ("explore", explore),
                                                        ("probes", bool(placed.probes))) if v]))
        vector = placed.task_vector
        return within(self.rank_many([placed.card], task_vectors=None if vector is None else [vector],
                                     known=[placed.known], top=within.top, explore=explore, notes=placed.notes,
                                     task_vector_covs=[placed.cov], probes=[placed.probes] if placed.probes else None)[0])

    def check_request(self, request: TaskRequest) -> dict[str, float] | None:
        """A request's ``known``, checked with its other fields (at most one placing input, ...)."""
        return checks.check_rank(request.task, None, request.images_per_task, request.known, request.placing())

    def suggest(self, task: TaskRequest | TaskCard | str | None = None, *, known: Mapping[str, float] | None = None,
                strategy: str = "ei", batch: int = 1, seed: int | Sequence[int] | None = None,
                candidates: Sequence[str] | None = None, **inputs: Any) -> Suggestions:
        """Propose the next ``batch`` model(s) to fine-tune for ``task`` given the ``known`` results:
        a :class:`fennec_core.scoring.suggest.Suggestions` (``strategy`` ``ei``, ``ucb``, ``thompson``
        or ``greedy``; batches by the kriging believer; ``seed`` default the engine's). ``inputs``:
        what places the task, as for :meth:`rank` (``description``, ``images``, ``task_embeddings``, ``probes``, ...);
        or ``task`` a :class:`fennec_core.task.request.TaskRequest` (``known`` then adds to its own)."""
        from fennec_core.scoring.suggest import propose
        from fennec_core.task.request import as_request

        options = {k: inputs.pop(k) for k in ("where", "explore") if k in inputs}
        request = as_request(task, **inputs)
        checks.check_rank(request.task, None, request.images_per_task, known)
        known = checks.check_known({**(request.known or {}), **(known or {})} if request.known or known else None)
        return propose(lambda kn: self.rank(attrs.evolve(request, known=kn), **options), known, strategy=strategy,
                       batch=batch, seed=self.seed if seed is None else seed, candidates=candidates)

    def rank_many(
        self,
        tasks: Sequence[TaskCard | str | None],
        *,
        task_vectors: Sequence[np.ndarray | None] | np.ndarray | None = None,
        known: Sequence[Mapping[str, float] | None] | None = None, top: int | None = None, explore: bool = False,
        notes: Sequence[str] = (),
        task_vector_covs: Sequence[np.ndarray | None] | None = None, probes: Sequence[Any] | None = None,
    ) -> list[Ranking]:
        """Rank every model for several tasks at once (one batched product on the device).

        ``task_vector_covs``: the covariance of each given task vector (e.g. a task mapping's
        error), which posterior factorizers turn into intervals; None where unknown. ``probes``: as rank's."""
        from fennec_core.scoring.ranking import rank_from_vectors
        from fennec_core.task.vector import resolve_task_vector

        zoo = self.check_is_fitted()
        known = checks.check_rank_many(tasks, task_vectors, known, top)
        cards = [zoo.task_card(t) for t in tasks]
        with self._guard("factorizer", "fold-in"):
            strength = self.resolved_warm_strength() if known is not None and any(known) else 1.0
            zoo = self.check_is_fitted()  # resolving the warm strength may have replaced the record
            vectors = [resolve_task_vector(zoo, self.components.factorizer, cards[i],
                                           task_vector=None if task_vectors is None else task_vectors[i],
                                           known=None if known is None else known[i], strength=strength,
                                           task_vector_cov=None if task_vector_covs is None else task_vector_covs[i])
                       for i in range(len(cards))]
        return rank_from_vectors(zoo, self.components.factorizer, self.components.merger, cards, vectors, top=top,
                                 explore=explore, device=self.device, notes=notes, probes=probes,
                                 components={"factorizer": self.factorizer, "score_merger": self.score_merger})

    def predict_cells(self, model_ids: Sequence[str], task_ids: Sequence[str]) -> np.ndarray:
        """Merged predicted scores (normalised) of models on historical tasks: [len(models), len(tasks)]."""
        from fennec_core.scoring.ranking import predict_cells

        return predict_cells(self.check_is_fitted(), self.components.merger, model_ids, task_ids)

    # -- changing a fitted zoo ----------------------------------------------------------------------

    def add_models(self, cards: Sequence[ModelCard]) -> list[str]:
        """Add models that have no history: their vectors are predicted from their features.

        A ridge regression from the zoo's model meta features to the fitted model vectors
        (:func:`fennec_core.architecture.new_models.add_new_models`) gives each new model a
        row of ``U`` (with a posterior, its uncertainty too). The models are then ranked with
        the rest, listed in ``Ranking.info["predicted_models"]``. Returns the ids added.
        """
        from fennec_core.architecture.new_models import add_new_models

        zoo, added = add_new_models(self.check_is_fitted(), cards)
        self.zoo_ = zoo
        return added

    def add_architectures(self, references: Sequence[str], names: Sequence[str] | None = None, *,
                          cache: bool = True) -> list[str]:
        """Add models known only by their architecture (``pytorchcv:NAME``, ``timm:NAME``, ...).

        Each is built on the meta device (no weights); its architecture features -- and its
        archi2vec features in the zoo's own basis when the zoo was fitted with ``archi`` --
        feed :meth:`add_models`. ``names``: model ids (default: the references).
        """
        from fennec_core.architecture.encoding import architecture_cards

        zoo = self.check_is_fitted()
        return self.add_models(architecture_cards(references, names, encoding=zoo.archi, cache=cache,
                                                  registry=self.registry))

    def update(
        self,
        new: History | str | os.PathLike[str],
        *,
        models: Sequence[ModelCard] | None = None,
        tasks: Sequence[TaskCard] | None = None,
        refit_threshold: float = 2.0,
        force_refit: bool = False,
    ) -> dict[str, Any]:
        """Add new tasks and/or new models without refitting everything.

        New cells are folded in (:mod:`fennec_core.history.update`); a full refit happens
        instead when cells of existing (model, task) pairs change, the factorizer cannot fold
        in models, or the fold-in residual RMSE exceeds ``refit_threshold`` x the median
        residual of existing tasks folded in the same way; a refit trains the zoo's other rankers
        again. Returns a report: what was added, whether it refit and why, what was retrained.
        """
        from fennec_core.history.update import plan_update
        from fennec_core.io.tables import as_history

        zoo = self.check_is_fitted()
        plan = plan_update(zoo, self.components.factorizer, as_history(new, "new"), models=models, tasks=tasks,
                           threshold=refit_threshold, force_refit=force_refit, use_meta=self.use_meta)
        if plan.refit_reason is None:
            self._set_zoo(plan.zoo)
        else:
            z = plan.zoo
            self._fit_zoo(z.history, z.models, z.tasks, task_embeddings=z.task_embeddings, proxy=z.proxy,
                          archi=z.archi, predicted_models=z.predicted_models)
            plan.report["retrained_rankers"] = [n for n in zoo.rankers if n not in self.zoo_.rankers]
            for name in plan.report["retrained_rankers"]:  # the refit's transfer space: train them again
                self.add_ranker(name, dict(zoo.rankers[name].config))
        return plan.report

    # -- persistence --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted zoo to a Zarr store at ``path`` (atomically; arrays and JSON only).

        The warm-start strength is resolved first, so loading the store fits nothing. Saving
        back to the store this engine was loaded from fails if another writer changed it since.
        """
        from fennec_core.io.engine_store import save_engine

        checks.check_store_path(path)
        self.resolved_warm_strength()
        self._origin = save_engine(self, path, self._origin)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "auto", registry: Registry | None = None,
             ranker: str | None = None) -> Fennec:
        """Load a zoo saved by :meth:`save`: nothing is fitted and no code from the store runs.
        ``ranker``: rank with ``fennec`` (the pipeline) or a ranker the zoo holds trained
        (``zoo_.rankers``, e.g. the bundled zoo's ``model-spider``) instead of the saved one."""
        from fennec_core.io.engine_store import load_engine

        checks.check_load(path, device)  # before the store's errors take them for a corrupt store
        return load_engine(cls, path, device=device, registry=registry, ranker=ranker, pipeline=PIPELINE)
