"""The Fennec engine: fit a zoo from a history, rank models for new tasks, save and load.

Pipeline (arXiv 2403.06382; see docs/architecture.md):

1. normalise each task's scores (:mod:`fennec_core.normalize`);
2. factorize the masked history ``P ~ U V^T`` with a *factorizer* plugin;
3. fit the meta model on model and task meta features (:mod:`fennec_core.meta`);
4. for a new task, get its vector ``v`` (given, or the mean task vector when nothing is
   known: a *cold* ranking, flagged in the Ranking), score ``U v`` in batches on the device,
   merge with the meta score through a *score merger* plugin, and sort.

The engine holds no global state; two engines never share anything but the plugin registry.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from fennec_core import __version__
from fennec_core.errors import FennecError, InputError, StoreError
from fennec_core.meta import MetaModel, feature_matrix
from fennec_core.normalize import TaskNormalizer
from fennec_core.records import Factors, History, ModelCard, Ranking, TaskCard
from fennec_core.registry import Registry, default_registry


def _load_history(history: History | str | os.PathLike[str]) -> History:
    if isinstance(history, History):
        return history
    from fennec_core.tables import read_history

    return read_history(history)


def _build(registry: Registry, kind: str, name: str, config: dict[str, Any], **defaults: Any) -> Any:
    """Create a component, passing ``defaults`` (device, seed) only where its factory takes them."""
    factory = registry.get(kind, name).factory
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    config = {**{k: v for k, v in defaults.items() if k in params}, **config}
    return registry.create(kind, name, **config)


class Fennec:
    """Recommend pre-trained models for a new task from a history of model x task results.

    Components are chosen by registered name plus a config dict, e.g.
    ``Fennec(factorizer="nmf", factorizer_config={"k": 5}, score_merger="weighted")``.
    ``device="auto"`` uses CUDA when present. ``seed`` makes every fitted part deterministic.
    """

    def __init__(
        self,
        factorizer: str = "nmf",
        score_merger: str = "weighted",
        *,
        factorizer_config: dict[str, Any] | None = None,
        score_merger_config: dict[str, Any] | None = None,
        normalization: str = "minmax",
        use_meta: bool = True,
        device: str = "auto",
        seed: int = 0,
        registry: Registry | None = None,
    ) -> None:
        from fennec_core.normalize import METHODS

        if normalization not in METHODS:
            raise InputError(f"unknown normalization {normalization!r}; choose one of {', '.join(METHODS)}")
        self.registry = registry or default_registry()
        self.factorizer_name = factorizer
        self.score_merger_name = score_merger
        self.factorizer_config = dict(factorizer_config or {})
        self.score_merger_config = dict(score_merger_config or {})
        self.normalization = normalization
        self.use_meta = use_meta
        self.device = device
        self.seed = seed
        # Build now so a bad name or config fails before any fitting.
        self.factorizer = _build(self.registry, "factorizer", factorizer, self.factorizer_config, device=device, seed=seed)
        self.merger = _build(self.registry, "score_merger", score_merger, self.score_merger_config, device=device, seed=seed)
        self.history: History | None = None
        self.models: dict[str, ModelCard] = {}
        self.tasks: dict[str, TaskCard] = {}
        self.normalizer: TaskNormalizer | None = None
        self.factors: Factors | None = None
        self.meta_model: MetaModel | None = None

    # -- fitting ---------------------------------------------------------------------------

    def fit(
        self,
        history: History | str | os.PathLike[str],
        models: Sequence[ModelCard] | str | os.PathLike[str] | None = None,
        tasks: Sequence[TaskCard] | str | os.PathLike[str] | None = None,
    ) -> Fennec:
        """Fit the transfer space and meta model on ``history`` (a History or a CSV path).

        ``models`` / ``tasks``: cards (or CSV paths) with meta features; models of the
        history missing from ``models`` get a card with no features. Returns ``self``.
        """
        from fennec_core.tables import read_models, read_tasks

        hist = _load_history(history)
        if isinstance(models, str | os.PathLike):
            models = read_models(models)
        if isinstance(tasks, str | os.PathLike):
            tasks = read_tasks(tasks)
        model_cards = {c.id: c for c in (models or [])}
        task_cards = {c.id: c for c in (tasks or [])}
        unknown = [m for m in model_cards if m not in hist.model_ids]
        if unknown:
            raise InputError(
                f"models table lists {len(unknown)} model(s) not in the history, e.g. {unknown[0]!r}; "
                "cold start for new models comes with `fennec add-model` (architecture issue)"
            )
        self.history = hist
        self.models = {m: model_cards.get(m, ModelCard(m)) for m in hist.model_ids}
        self.tasks = {**task_cards, **{t: task_cards.get(t, TaskCard(t)) for t in hist.task_ids}}
        self.normalizer = TaskNormalizer.fit(hist.scores, hist.mask, self.normalization)
        Pn = self.normalizer.transform(hist.scores)
        self.factors = self.factorizer.fit(np.where(hist.mask, Pn, 0.0), hist.mask)
        if not isinstance(self.factors, Factors):
            raise FennecError(f"factorizer {self.factorizer_name!r} returned {type(self.factors).__name__}, not Factors")
        self.meta_model = self._fit_meta(Pn, hist.mask) if self.use_meta else None
        if hasattr(self.merger, "fit"):
            self.merger.fit(engine=self)
        return self

    def _model_features(self) -> list[str]:
        names = sorted({k for c in self.models.values() for k in c.meta})
        return names

    def _fit_meta(self, Pn: np.ndarray, mask: np.ndarray) -> MetaModel | None:
        assert self.history is not None
        mnames = self._model_features()
        if not mnames:
            return None
        tcards = [self.tasks[t] for t in self.history.task_ids]
        tnames = sorted({k for c in tcards for k in c.features()})
        mX = feature_matrix([self.models[m].meta for m in self.history.model_ids], mnames)
        tX = feature_matrix([c.features() for c in tcards], tnames)
        return MetaModel.fit(mX, mnames, tX, tnames, Pn, mask)

    def _require_fitted(self) -> None:
        if self.factors is None or self.history is None:
            raise FennecError("this Fennec is not fitted yet: call fit(history) or Fennec.load(path) first")

    @property
    def model_ids(self) -> tuple[str, ...]:
        """Ids of the models this engine ranks, in storage order."""
        self._require_fitted()
        assert self.history is not None
        return self.history.model_ids

    # -- ranking ---------------------------------------------------------------------------

    def _task_card(self, task: TaskCard | str | None) -> TaskCard | None:
        if task is None or isinstance(task, TaskCard):
            return task
        return self.tasks.get(task, TaskCard(task))

    def rank(
        self,
        task: TaskCard | str | None = None,
        *,
        task_vector: np.ndarray | None = None,
        top: int | None = None,
    ) -> Ranking:
        """Rank every model for one new task.

        ``task``: a TaskCard (or id) with what is known about the task (classes, size).
        ``task_vector``: the task's vector in the transfer space, when a proxy or fold-in
        gave one. Without it the transfer part uses the mean historical task vector and the
        Ranking is marked cold.
        """
        vectors = None if task_vector is None else np.atleast_2d(task_vector)
        return self.rank_many([task], task_vectors=vectors, top=top)[0]

    def rank_many(
        self,
        tasks: Sequence[TaskCard | str | None],
        *,
        task_vectors: np.ndarray | None = None,
        top: int | None = None,
    ) -> list[Ranking]:
        """Rank every model for several tasks at once (one batched product on the device)."""
        from fennec_core.scoring import order, transfer_scores

        self._require_fitted()
        assert self.factors is not None and self.history is not None
        cards = [self._task_card(t) for t in tasks]
        k = self.factors.k
        cold = task_vectors is None
        if cold:
            V = np.repeat(self.factors.V.mean(axis=0, keepdims=True), len(cards), axis=0)
        else:
            V = np.asarray(task_vectors, dtype=np.float64)
            if V.shape != (len(cards), k):
                raise InputError(f"task_vectors must have shape ({len(cards)}, {k}), got {V.shape}")
            if not np.all(np.isfinite(V)):
                raise InputError("task_vectors contain NaN or inf")
        transfer = transfer_scores(self.factors.U, V, device=self.device)
        rankings = []
        mnames = self.meta_model.model_features if self.meta_model else ()
        mX = feature_matrix([self.models[m].meta for m in self.history.model_ids], mnames) if self.meta_model else None
        for i, card in enumerate(cards):
            parts: dict[str, np.ndarray] = {"transfer": transfer[i]}
            notes = []
            if self.meta_model is not None and mX is not None:
                feats = card.features() if card is not None else {}
                tx = np.array([feats.get(n, np.nan) for n in self.meta_model.task_features])
                missing = [n for n, x in zip(self.meta_model.task_features, tx, strict=True) if not np.isfinite(x)]
                if missing:
                    notes.append(f"task features {', '.join(missing)} unknown: training mean used")
                parts["meta"] = self.meta_model.predict(mX, tx)
            else:
                notes.append("no model meta features: meta score not used")
            if cold:
                notes.append("nothing known about the task: transfer part uses the mean task vector")
            final = np.asarray(self.merger.merge(parts), dtype=np.float64)
            idx = order(final)
            if top is not None:
                idx = idx[:top]
            rankings.append(
                Ranking(
                    [self.history.model_ids[j] for j in idx],
                    final[idx],
                    {name: np.asarray(v)[idx] for name, v in parts.items()},
                    task=card.id if card is not None else None,
                    info={
                        "cold": cold,
                        "score_space": f"normalised ({self.normalization})",
                        "factorizer": self.factorizer_name,
                        "score_merger": self.score_merger_name,
                        "n_models": len(self.history.model_ids),
                        "notes": notes,
                    },
                )
            )
        return rankings

    # -- evaluation ------------------------------------------------------------------------

    def clone_unfitted(self) -> Fennec:
        """A new, unfitted engine with this one's components and settings."""
        return Fennec(
            self.factorizer_name,
            self.score_merger_name,
            factorizer_config=self.factorizer_config,
            score_merger_config=self.score_merger_config,
            normalization=self.normalization,
            use_meta=self.use_meta,
            device=self.device,
            seed=self.seed,
            registry=self.registry,
        )

    def evaluate(
        self,
        history: History | str | os.PathLike[str] | None = None,
        *,
        protocol: str = "loo",
        models: Sequence[ModelCard] | None = None,
        tasks: Sequence[TaskCard] | None = None,
        progress: bool = False,
    ) -> Any:
        """Evaluate this engine's configuration under ``protocol`` (leave-one-task-out).

        Uses the fitted history and cards when ``history`` is None. Returns an
        :class:`fennec_core.evaluation.EvaluationReport` with the static baseline beside it.
        """
        from fennec_core.evaluation import evaluate

        if history is None:
            self._require_fitted()
            hist = self.history
            models = models if models is not None else list(self.models.values())
            tasks = tasks if tasks is not None else list(self.tasks.values())
        else:
            hist = _load_history(history)
        assert hist is not None
        return evaluate(self, hist, protocol=protocol, models=models, tasks=tasks, progress=progress)

    # -- persistence -----------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted zoo to a Zarr store at ``path`` (atomically; arrays and JSON only)."""
        from fennec_core.store import write_store

        self._require_fitted()
        assert self.history is not None and self.factors is not None and self.normalizer is not None
        arrays: dict[str, np.ndarray] = {
            "history/scores": np.asarray(self.history.scores),
            "history/mask": np.asarray(self.history.mask).astype(np.uint8),
            "factors/U": self.factors.U,
            "factors/V": self.factors.V,
            "normalization/offset": self.normalizer.offset,
            "normalization/scale": self.normalizer.scale,
        }
        for name, arr in self.factors.extras.items():
            arrays[f"factors/extras/{name}"] = np.asarray(arr)
        mnames = self._model_features()
        arrays["models/features"] = feature_matrix([self.models[m].meta for m in self.history.model_ids], mnames)
        extra_tasks = [t for t in self.tasks if t not in self.history.task_ids]
        if self.meta_model is not None:
            for name, arr in self.meta_model.arrays().items():
                arrays[f"meta/{name}"] = arr
        manifest = {
            "package_version": __version__,
            "model_ids": list(self.history.model_ids),
            "task_ids": list(self.history.task_ids),
            "models": {
                "architecture": [self.models[m].architecture for m in self.history.model_ids],
                "feature_names": mnames,
            },
            "tasks": [
                {"id": t.id, "num_classes": t.num_classes, "train_size": t.train_size,
                 "description": t.description, "meta": t.meta}
                for t in [self.tasks[t] for t in (*self.history.task_ids, *extra_tasks)]
            ],
            "components": {
                "factorizer": {"name": self.factorizer_name, "config": self.factorizer_config},
                "score_merger": {"name": self.score_merger_name, "config": self.score_merger_config},
            },
            "settings": {"normalization": self.normalization, "use_meta": self.use_meta, "seed": self.seed},
            "factors_info": self.factors.info,
            "meta_model": self.meta_model.attributes() if self.meta_model else None,
        }
        write_store(path, arrays, manifest)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        device: str = "auto",
        registry: Registry | None = None,
    ) -> Fennec:
        """Load a zoo saved by :meth:`save` (never runs code from the store)."""
        from fennec_core.store import read_store

        arrays, man = read_store(path)
        try:
            comps, settings = man["components"], man["settings"]
            eng = cls(
                comps["factorizer"]["name"],
                comps["score_merger"]["name"],
                factorizer_config=comps["factorizer"]["config"],
                score_merger_config=comps["score_merger"]["config"],
                normalization=settings["normalization"],
                use_meta=settings["use_meta"],
                device=device,
                seed=settings["seed"],
                registry=registry,
            )
            mids, tids = man["model_ids"], man["task_ids"]
            eng.history = History(mids, tids, arrays["history/scores"], arrays["history/mask"].astype(bool))
            fnames = man["models"]["feature_names"]
            feats = arrays["models/features"]
            eng.models = {
                m: ModelCard(m, arch, {n: float(x) for n, x in zip(fnames, feats[i], strict=True) if np.isfinite(x)})
                for i, (m, arch) in enumerate(zip(mids, man["models"]["architecture"], strict=True))
            }
            eng.tasks = {
                t["id"]: TaskCard(t["id"], t["num_classes"], t["train_size"], t["description"], t["meta"])
                for t in man["tasks"]
            }
            eng.normalizer = TaskNormalizer(settings["normalization"], arrays["normalization/offset"],
                                            arrays["normalization/scale"])
            extras = {k.removeprefix("factors/extras/"): v for k, v in arrays.items() if k.startswith("factors/extras/")}
            eng.factors = Factors(arrays["factors/U"], arrays["factors/V"], extras, man.get("factors_info") or {})
            if man.get("meta_model"):
                meta_arrays = {k.removeprefix("meta/"): v for k, v in arrays.items() if k.startswith("meta/")}
                eng.meta_model = MetaModel.from_stored(meta_arrays, man["meta_model"])
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, FennecError):
                raise StoreError(f"{path}: inconsistent store ({exc}); refit with `fennec fit`") from None
            raise StoreError(f"{path}: store manifest is incomplete ({type(exc).__name__}: {exc}); "
                             "refit with `fennec fit`") from None
        if hasattr(eng.merger, "fit"):
            eng.merger.fit(engine=eng)
        return eng
