"""The Fennec engine: fit a zoo from a history, rank models for new tasks, save and load.

Pipeline (arXiv 2403.06382; see docs/architecture.md):

1. normalise each task's scores (:mod:`fennec_core.normalize`);
2. factorize the masked history ``P ~ U V^T`` with a *factorizer* plugin (``k="auto"``:
   cross-validated on held-out cells, :mod:`fennec_core.model_selection`);
3. fit the meta model on model and task meta features (:mod:`fennec_core.meta`);
4. for a new task, get its vector ``v``: from known scores (warm start, fold-in), from a
   proxy vector, both, or neither (*cold*: the mean task vector, flagged in the Ranking);
   score ``U v`` in batches on the device, merge with the meta score through a *score
   merger* plugin, and sort. Factorizers with a posterior (``pmf``) also give every model an
   interval, and ``explore=True`` ranks by its optimistic end.

The engine holds no global state; two engines never share anything but the plugin registry.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from fennec_core import __version__
from fennec_core.errors import FennecError, InputError, StoreError
from fennec_core.meta import MetaModel, feature_matrix
from fennec_core.normalize import TaskNormalizer
from fennec_core.records import Factors, History, ModelCard, Ranking, TaskCard
from fennec_core.registry import Registry, default_registry

#: z of the two-sided 90% normal interval.
Z90 = 1.6448536269514722
#: Candidate shrinkage strengths for warm start when the factorizer has no posterior.
WARM_STRENGTHS = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 1e8)


def _load_history(history: History | str | os.PathLike[str]) -> History:
    if isinstance(history, History):
        return history
    from fennec_core.tables import read_history

    return read_history(history)


def _params(factory: Any) -> Mapping[str, Any]:
    try:
        return inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}


def _build(registry: Registry, kind: str, name: str, config: dict[str, Any], **defaults: Any) -> Any:
    """Create a component, passing ``defaults`` (device, seed) only where its factory takes them."""
    params = _params(registry.get(kind, name).factory)
    config = {**{k: v for k, v in defaults.items() if k in params}, **config}
    return registry.create(kind, name, **config)


def _accepts(fn: Any, name: str) -> bool:
    return name in _params(fn)


class Fennec:
    """Recommend pre-trained models for a new task from a history of model x task results.

    Components are chosen by registered name plus a config dict, e.g.
    ``Fennec(factorizer="nmf", factorizer_config={"k": 5}, score_merger="weighted")``.
    ``device="auto"`` uses CUDA when present. ``seed`` makes every fitted part deterministic.
    ``normalization="auto"``: ``minmax`` for factorizers that need non-negative scores
    (``nmf``), ``zscore`` otherwise. ``warm_strength``: how strongly a warm-start fold-in is
    held to the cold task vector; ``"auto"`` picks it on the history.
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
        ranker: str = "fennec",
        ranker_config: dict[str, Any] | None = None,
    ) -> None:
        from fennec_core.normalize import METHODS
        from fennec_core.task_mapping import METHODS as MAPPINGS

        if task_mapping not in MAPPINGS:
            raise InputError(f"unknown task_mapping {task_mapping!r}; choose one of {', '.join(MAPPINGS)}")

        if normalization != "auto" and normalization not in METHODS:
            raise InputError(f"unknown normalization {normalization!r}; choose auto or one of {', '.join(METHODS)}")
        if warm_strength != "auto" and not (isinstance(warm_strength, int | float) and warm_strength >= 0):
            raise InputError(f"warm_strength must be 'auto' or a number >= 0, got {warm_strength!r}")
        self.registry = registry or default_registry()
        self.factorizer_name = factorizer
        self.score_merger_name = score_merger
        self.factorizer_config = dict(factorizer_config or {})
        self.score_merger_config = dict(score_merger_config or {})
        self.use_meta = use_meta
        self.warm_strength = warm_strength
        self.device = device
        self.seed = seed
        # Build now so a bad name or config fails before any fitting.
        self.factorizer = self._make_factorizer(self.factorizer_config)
        if normalization == "auto":  # NMF needs non-negative scores; the rest use z-scores
            normalization = "minmax" if getattr(self.factorizer, "requires_nonnegative", False) else "zscore"
        self.normalization = normalization
        self.merger = _build(self.registry, "score_merger", score_merger, self.score_merger_config,
                             device=device, seed=seed)
        self.history: History | None = None
        self.models: dict[str, ModelCard] = {}
        self.tasks: dict[str, TaskCard] = {}
        self.normalizer: TaskNormalizer | None = None
        self.factors: Factors | None = None
        self.meta_model: MetaModel | None = None
        self.k_selection: dict[str, Any] | None = None
        self.predicted_models: list[str] = []
        #: the zoo's architecture encoding (graphs, vectors, projection), when fitted with one
        self.archi: Any = None
        #: per historical task, its items embedded by a task proxy ([n_items, d]); and the proxy
        self.task_embeddings: dict[str, np.ndarray] = {}
        self.proxy: dict[str, Any] | None = None
        self.task_mapping = task_mapping
        self._mapper: Any = None
        #: the ranking method: "fennec" (this pipeline) or a registered ranker such as "model-spider"
        self.ranker_name = ranker
        self.ranker_config = dict(ranker_config or {})
        self.ranker: Any = None
        if ranker != "fennec":
            self.ranker = _build(self.registry, "ranker", ranker, self.ranker_config, device=device, seed=seed)
        self._warm_strength: float | None = None if warm_strength == "auto" else float(warm_strength)

    def _make_factorizer(self, config: dict[str, Any]) -> Any:
        cfg = dict(config)
        if cfg.get("k") == "auto":
            cfg["k"] = 1  # placeholder; resolved by cross-validation at fit
        return _build(self.registry, "factorizer", self.factorizer_name, cfg, device=self.device, seed=self.seed)

    # -- fitting ---------------------------------------------------------------------------

    def fit(
        self,
        history: History | str | os.PathLike[str],
        models: Sequence[ModelCard] | str | os.PathLike[str] | None = None,
        tasks: Sequence[TaskCard] | str | os.PathLike[str] | None = None,
        *,
        task_embeddings: Mapping[str, np.ndarray] | None = None,
        proxy: Mapping[str, Any] | None = None,
    ) -> Fennec:
        """Fit the transfer space and meta model on ``history`` (a History or a CSV path).

        ``models`` / ``tasks``: cards (or CSV paths) with meta features; models of the
        history missing from ``models`` get a card with no features. ``task_embeddings``:
        ``{task id: [n_items, d]}`` from a task proxy (``proxy``: its name and config), so new
        tasks can be ranked from their images (:meth:`rank` with ``task_embeddings``).
        Returns ``self``.
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
                "add their scores to the history, or leave them out of the models table"
            )
        self.history = hist.with_capacity() if hist.shape[0] * hist.shape[1] >= 1_000_000 else hist
        self.models = {m: model_cards.get(m, ModelCard(m)) for m in hist.model_ids}
        self.tasks = {**task_cards, **{t: task_cards.get(t, TaskCard(t)) for t in hist.task_ids}}
        self.set_task_embeddings(task_embeddings or {}, proxy)
        self._fit_parts()
        return self

    def set_task_embeddings(self, embeddings: Mapping[str, np.ndarray], proxy: Mapping[str, Any] | None) -> None:
        """Attach proxy embeddings of historical tasks (validated: finite, one width)."""
        clean: dict[str, np.ndarray] = {}
        for t, e in embeddings.items():
            arr = np.atleast_2d(np.asarray(e, dtype=np.float32))
            if arr.ndim != 2 or len(arr) == 0 or not np.isfinite(arr).all():
                raise InputError(f"task embeddings of {t!r} must be a finite, non-empty [n_items, d] array, "
                                 f"got shape {arr.shape}")
            clean[str(t)] = arr
        if len({a.shape[1] for a in clean.values()}) > 1:
            raise InputError("task embeddings differ in width; embed every task with the same proxy")
        self.task_embeddings = clean
        self.proxy = dict(proxy) if proxy else ({"name": "external", "config": {}} if clean else None)
        self._mapper = None

    def map_task(self, embeddings: np.ndarray) -> np.ndarray:
        """A new task's vector in the transfer space from its items' proxy embeddings.

        The mapping (``task_mapping``: the paper's random forest, kernel ridge or kNN) is
        learned from the historical tasks' embeddings and fitted vectors, on first use.
        """
        from fennec_core.task_mapping import TaskMapper

        self._require_fitted()
        assert self.history is not None and self.factors is not None
        if not self.task_embeddings:
            raise InputError("this zoo has no proxy embeddings of its tasks; fit it with --task-images DIR or "
                             "--task-embeddings FILE (Fennec.fit(task_embeddings=...))")
        if self._mapper is None:
            vectors = {t: self.factors.V[j] for j, t in enumerate(self.history.task_ids)}
            self._mapper = TaskMapper(self.task_mapping, seed=self.seed).fit(self.task_embeddings, vectors)
        return self._mapper.predict(embeddings)

    def _fit_parts(self) -> None:
        assert self.history is not None
        self._mapper = None  # the task vectors change: the proxy mapping is learned again
        hist = self.history
        self.normalizer = TaskNormalizer.fit(hist.scores, hist.mask, self.normalization)
        Pn = np.where(hist.mask, self.normalizer.transform(hist.scores), 0.0)
        if self.factorizer_config.get("k") == "auto":
            from fennec_core.model_selection import select_k

            best, scores = select_k(lambda k: self._make_factorizer({**self.factorizer_config, "k": k}),
                                    Pn, hist.mask, seed=self.seed)
            self.k_selection = {"k": best, "cv_rmse": {str(k): v for k, v in scores.items()}}
            self.factorizer = self._make_factorizer({**self.factorizer_config, "k": best})
        self.factors = self.factorizer.fit(Pn, hist.mask)
        if not isinstance(self.factors, Factors):
            raise FennecError(f"factorizer {self.factorizer_name!r} returned {type(self.factors).__name__}, not Factors")
        self.factors.info["fold_in_reference_rmse"] = self._fold_in_reference(Pn, hist.mask)
        self.meta_model = self._fit_meta(Pn, hist.mask) if self.use_meta else None
        if self.warm_strength == "auto":
            self._warm_strength = None  # re-chosen lazily for the new factors
        if hasattr(self.merger, "fit"):
            self.merger.fit(engine=self)
        if self.ranker is not None:
            self.ranker.fit(self)

    def _model_features(self) -> list[str]:
        return sorted({k for c in self.models.values() for k in c.meta})

    def _task_features(self) -> list[str]:
        assert self.history is not None
        return sorted({k for t in self.history.task_ids for k in self.tasks[t].features()})

    def _fit_meta(self, Pn: np.ndarray, mask: np.ndarray, exclude_task: int | None = None) -> MetaModel | None:
        assert self.history is not None
        mnames = self._model_features()
        if not mnames:
            return None
        keep = [j for j in range(len(self.history.task_ids)) if j != exclude_task]
        tcards = [self.tasks[self.history.task_ids[j]] for j in keep]
        tnames = self._task_features()
        mX = feature_matrix([self.models[m].meta for m in self.history.model_ids], mnames)
        tX = feature_matrix([c.features() for c in tcards], tnames)
        return MetaModel.fit(mX, mnames, tX, tnames, Pn[:, keep], mask[:, keep])

    def _require_fitted(self) -> None:
        if self.factors is None or self.history is None:
            raise FennecError("this Fennec is not fitted yet: call fit(history) or Fennec.load(path) first")

    @property
    def model_ids(self) -> tuple[str, ...]:
        """Ids of the models this engine ranks, in storage order."""
        self._require_fitted()
        assert self.history is not None
        return self.history.model_ids

    # -- the new task's vector ------------------------------------------------------------

    def _task_normalizer(self, card: TaskCard | None) -> tuple[float, float, str]:
        """(offset, scale, source) of a task's raw units: its own, else the historical median."""
        assert self.history is not None and self.normalizer is not None
        if card is not None and card.id in self.history.task_ids:
            j = self.history.task_index(card.id)
            return float(self.normalizer.offset[j]), float(self.normalizer.scale[j]), "the task's own"
        return (float(np.median(self.normalizer.offset)), float(np.median(self.normalizer.scale)),
                "median of the historical tasks'")

    def _task_vector_prior(self) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian prior (mean, cov) over a new task's vector, from the historical tasks."""
        assert self.factors is not None
        if self._posterior():
            return self.factorizer.task_prior(self.factors)
        V = self.factors.V
        cov = np.cov(V.T, bias=True).reshape(V.shape[1], V.shape[1]) if V.shape[0] > 1 else np.zeros((V.shape[1],) * 2)
        return V.mean(axis=0), cov + 1e-6 * np.eye(V.shape[1])

    def infer_units(self, known: Mapping[str, float]) -> tuple[float, float]:
        """Estimate a new task's (offset, scale) from a few known raw scores.

        Tasks differ in scale (on the 105-model table the min-max ranges span 0.07 to 0.52),
        so a fixed guess distorts a fold-in. Model: ``y = offset + scale * z`` with ``z`` the
        normalised score, ``z_o ~ N(U_o m, U_o C U_o' + s^2 I)`` under the task-vector prior
        ``N(m, C)``, ``offset`` Gaussian and ``log scale`` normal with the historical tasks'
        moments. The scale is the MAP on a grid of the marginal likelihood times its prior;
        the offset its posterior mean given that scale.
        """
        assert self.factors is not None and self.normalizer is not None and self.history is not None
        idx = [self.history.model_index(m) for m in known]
        y = np.array([float(v) for v in known.values()])
        offs, scales = self.normalizer.offset, self.normalizer.scale
        mu_ls, sd_ls = float(np.mean(np.log(scales))), max(float(np.std(np.log(scales))), 0.1)
        mu_off = float(np.mean(offs))
        sd_off = max(float(np.std(offs)), 0.05 * float(np.mean(scales)))
        mean_v, cov_v = self._task_vector_prior()
        Uo = self.factors.U[idx]
        noise = float(self.factors.extras["noise_var"][0]) if "noise_var" in self.factors.extras else (
            float(self.factors.info.get("rmse") or 0.05) ** 2)
        m = Uo @ mean_v
        S = Uo @ cov_v @ Uo.T + noise * np.eye(len(idx))
        ones = np.ones(len(idx))
        best, best_lp, best_cov = float(np.exp(mu_ls)), -np.inf, None
        for a in np.exp(np.linspace(mu_ls - 3 * sd_ls, mu_ls + 3 * sd_ls, 121)):
            cov_y = a * a * S + sd_off**2 * np.outer(ones, ones)
            resid = y - (mu_off + a * m)
            sign, logdet = np.linalg.slogdet(cov_y)
            lp = -0.5 * (logdet + resid @ np.linalg.solve(cov_y, resid)) - 0.5 * ((np.log(a) - mu_ls) / sd_ls) ** 2
            if lp > best_lp:
                best, best_lp, best_cov = float(a), float(lp), cov_y
        resid = y - (mu_off + best * m)
        offset = mu_off + sd_off**2 * float(ones @ np.linalg.solve(best_cov, resid))
        return offset, best

    def _known_vector(self, known: Mapping[str, float], offset: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
        assert self.history is not None
        obs = np.zeros(len(self.history.model_ids))
        mask = np.zeros(len(self.history.model_ids), dtype=bool)
        for mid, score in known.items():
            i = self.history.model_index(mid)
            if not np.isfinite(score):
                raise InputError(f"known score of model {mid!r} is {score!r}; known scores must be finite")
            obs[i] = (float(score) - offset) / scale
            mask[i] = True
        return obs, mask

    def _posterior(self) -> bool:
        return hasattr(self.factorizer, "fold_in_posterior") and hasattr(self.factorizer, "predictive_variance")

    def _resolve_task(
        self, card: TaskCard | None, task_vector: np.ndarray | None, known: Mapping[str, float] | None
    ) -> tuple[np.ndarray, np.ndarray | None, str, list[str]]:
        """(vector mean, covariance or None, source, notes) of one new task."""
        assert self.factors is not None and self.history is not None
        notes: list[str] = []
        k = self.factors.k
        prior = None
        if task_vector is not None:
            prior = np.asarray(task_vector, dtype=np.float64)
            if prior.shape != (k,):
                raise InputError(f"task vector must have shape ({k},), got {prior.shape}")
            if not np.all(np.isfinite(prior)):
                raise InputError("task vector contains NaN or inf")
        if known:
            mean, cov, src = self._fold_known(known, card, prior, self.resolved_warm_strength())
            notes.append(f"{len(known)} known score(s) folded in (normalised with {src})")
            return mean, cov, "known" + ("+proxy" if prior is not None else ""), notes
        if prior is not None:
            return prior, None, "proxy", notes
        notes.append("nothing known about the task: transfer part uses the mean task vector")
        if self._posterior():
            mean, cov = self.factorizer.task_prior(self.factors)
            return mean, cov, "cold", notes
        return self.factors.V.mean(axis=0), None, "cold", notes

    def _fold_known(
        self, known: Mapping[str, float], card: TaskCard | None, prior: np.ndarray | None, strength: float
    ) -> tuple[np.ndarray, np.ndarray | None, str]:
        """Fold known raw scores of a task into its vector: (mean, covariance or None, units note)."""
        assert self.factors is not None and self.history is not None
        if card is not None and card.id in self.history.task_ids:
            offset, scale, _ = self._task_normalizer(card)
            src = "the task's own offset and scale"
        else:
            offset, scale = self.infer_units(known)
            src = f"offset {offset:.4g} and scale {scale:.4g} inferred from them"
        obs, mask = self._known_vector(known, offset, scale)
        if self._posterior():
            mean, cov = self.factorizer.fold_in_posterior(self.factors, obs, mask, prior_mean=prior,
                                                          strength=strength)
            return mean, cov, src
        base = prior if prior is not None else self.factors.V.mean(axis=0)
        if _accepts(self.factorizer.fold_in, "prior"):
            v = self.factorizer.fold_in(self.factors, obs, mask, prior=base, strength=strength)
        else:
            v = self.factorizer.fold_in(self.factors, obs, mask)
        return np.asarray(v, dtype=np.float64), None, src

    def resolved_warm_strength(self, known_per_task: int = 3) -> float:
        """How strongly a warm-start fold-in is held to the cold (prior) task vector.

        For ``pmf`` it tempers the known scores' noise (>= 1); for ``nmf`` it is the ridge
        pulling the fold-in toward the mean task vector. ``"auto"`` simulates warm starts on
        the history: each historical task in turn is treated as new, gets
        ``known_per_task`` seeded known raw scores (units inferred as for a real new task),
        is folded in with each candidate strength -- including one so large that the
        ranking stays cold -- and the strength with the best mean weighted tau on its other
        cells wins. The simulation uses the fitted factors (which saw that task), so it errs
        toward weaker shrinkage.
        """
        if self._warm_strength is not None:
            return self._warm_strength
        from fennec_core.metrics import weighted_tau

        assert self.factors is not None and self.history is not None
        candidates = (1.0, 3.0, 10.0, 30.0, 100.0, 1e8) if self._posterior() else WARM_STRENGTHS
        rng = np.random.default_rng(self.seed)
        trials = []
        for j in range(len(self.history.task_ids)):
            obs = np.flatnonzero(self.history.mask[:, j])
            if obs.size <= known_per_task + 1:
                continue
            for _ in range(3):
                trials.append((j, rng.choice(obs, known_per_task, replace=False)))
        best, best_tau = candidates[-1], -np.inf
        for s in candidates:
            taus = []
            for j, idx in trials:
                known = {self.history.model_ids[i]: float(self.history.scores[i, j]) for i in idx}
                mean, _, _ = self._fold_known(known, None, None, s)
                rest = self.history.mask[:, j].copy()
                rest[idx] = False
                taus.append(weighted_tau(self.history.scores[rest, j], (self.factors.U @ mean)[rest]))
            tau = float(np.nanmean(taus)) if taus else -np.inf
            if tau > best_tau + 1e-9:
                best, best_tau = s, tau
        self._warm_strength = float(best)
        return self._warm_strength

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
        known: Mapping[str, float] | None = None,
        top: int | None = None,
        explore: bool = False,
        task_embeddings: np.ndarray | None = None,
    ) -> Ranking:
        """Rank every model for one new task.

        ``task_embeddings``: the new task's items embedded by the zoo's task proxy
        ([n_items, d]); mapped to ``task_vector`` by :meth:`map_task`.
        ``task``: a TaskCard (or id) with what is known about the task (classes, size).
        ``task_vector``: the task's vector in the transfer space, from a task proxy.
        ``known``: ``{model id: score}`` already measured on this task (warm start), in the
        history's units. With neither, the Ranking is cold (mean task vector).
        ``explore``: rank by the optimistic (upper 90%) end of each model's interval.
        """
        if self.ranker is not None:
            return self._rank_with_ranker(self._task_card(task), task_vector, known, task_embeddings, top, explore)
        if task_embeddings is not None:
            if task_vector is not None:
                raise InputError("give task_vector or task_embeddings, not both")
            task_vector = self.map_task(task_embeddings)
        vectors = None if task_vector is None else [task_vector]
        return self.rank_many([task], task_vectors=vectors, known=[known], top=top, explore=explore)[0]

    def _rank_with_ranker(self, card: TaskCard | None, task_vector: Any, known: Any, task_embeddings: Any,
                          top: int | None, explore: bool) -> Ranking:
        """Rank through the configured ranker plugin (e.g. Model Spider)."""
        from fennec_core.scoring import order

        self._require_fitted()
        assert self.history is not None
        if task_vector is not None or known or explore:
            raise InputError(f"the {self.ranker_name!r} ranker ranks from task embeddings only (no task_vector, "
                             "known scores or explore); use the default ranker for those")
        if task_embeddings is None:
            raise InputError(f"the {self.ranker_name!r} ranker needs the task's embeddings (rank --images / "
                             "--embeddings / --describe, or task_embeddings=...)")
        scores = np.asarray(self.ranker.scores(self, task_embeddings), dtype=np.float64)
        idx = order(scores)[: top if top is not None else None]
        ids = [self.history.model_ids[j] for j in idx]
        return Ranking(ids, scores[idx], {"ranker": scores[idx]}, task=card.id if card is not None else None,
                       info={"cold": False, "task_vector_source": "embeddings", "ranker": self.ranker_name,
                             "score_space": f"{self.ranker_name} fitness", "interval": None,
                             "n_models": len(self.history.model_ids),
                             "predicted_models": [m for m in ids if m in self.predicted_models], "notes": []})

    def rank_many(
        self,
        tasks: Sequence[TaskCard | str | None],
        *,
        task_vectors: Sequence[np.ndarray | None] | np.ndarray | None = None,
        known: Sequence[Mapping[str, float] | None] | None = None,
        top: int | None = None,
        explore: bool = False,
    ) -> list[Ranking]:
        """Rank every model for several tasks at once (one batched product on the device)."""
        from fennec_core.scoring import order, transfer_scores

        self._require_fitted()
        assert self.factors is not None and self.history is not None
        cards = [self._task_card(t) for t in tasks]
        n = len(cards)
        if task_vectors is not None and len(task_vectors) != n:
            raise InputError(f"got {len(task_vectors)} task vectors for {n} tasks")
        if known is not None and len(known) != n:
            raise InputError(f"got {len(known)} known-score tables for {n} tasks")
        resolved = [
            self._resolve_task(cards[i], None if task_vectors is None else task_vectors[i],
                               None if known is None else known[i])
            for i in range(n)
        ]
        V = np.stack([r[0] for r in resolved])
        transfer = transfer_scores(self.factors.U, V, device=self.device)
        mnames = self.meta_model.model_features if self.meta_model else ()
        mX = feature_matrix([self.models[m].meta for m in self.history.model_ids], mnames) if self.meta_model else None
        rankings = []
        for i, card in enumerate(cards):
            mean_v, cov_v, source, notes = resolved[i]
            parts: dict[str, np.ndarray] = {"transfer": transfer[i]}
            sd = None
            if cov_v is not None:
                sd = np.sqrt(self.factorizer.predictive_variance(self.factors, mean_v, cov_v))
            if self.meta_model is not None and mX is not None:
                feats = card.features() if card is not None else {}
                tx = np.array([feats.get(f, np.nan) for f in self.meta_model.task_features])
                missing = [f for f, x in zip(self.meta_model.task_features, tx, strict=True) if not np.isfinite(x)]
                if missing:
                    notes.append(f"task features {', '.join(missing)} unknown: training mean used")
                parts["meta"] = self.meta_model.predict(mX, tx)
            else:
                notes.append("no model meta features: meta score not used")
            final = np.asarray(self.merger.merge(parts), dtype=np.float64)
            if sd is not None:
                parts["sd"] = sd
                upper_parts = {**parts, "transfer": parts["transfer"] + Z90 * sd}
                upper_parts.pop("sd")
                upper = np.asarray(self.merger.merge(upper_parts), dtype=np.float64)
                if getattr(self.merger, "score_like", False):
                    offset, scale, _ = self._task_normalizer(card)
                    parts["predicted"] = final * scale + offset
                    w = float(getattr(self.merger, "transfer_weight", 1.0))
                    parts["low"] = (final - Z90 * w * sd) * scale + offset
                    parts["high"] = (final + Z90 * w * sd) * scale + offset
                if explore:
                    parts["final"] = final
                    final = upper
                    notes.append("explore: ranked by the optimistic end of the 90% interval")
            elif explore:
                raise InputError(f"explore needs a factorizer with uncertainty (e.g. pmf); {self.factorizer_name!r} has none")
            if getattr(self.merger, "score_like", False) and "predicted" not in parts:
                offset, scale, _ = self._task_normalizer(card)
                parts["predicted"] = final * scale + offset
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
                        "cold": source == "cold",
                        "task_vector_source": source,
                        "score_space": f"normalised ({self.normalization})",
                        "interval": "90% (predicted, low, high in the task's units)" if sd is not None else None,
                        "factorizer": self.factorizer_name,
                        "score_merger": self.score_merger_name,
                        "n_models": len(self.history.model_ids),
                        "predicted_models": [self.history.model_ids[j] for j in idx
                                             if self.history.model_ids[j] in self.predicted_models],
                        "notes": notes,
                    },
                )
            )
        return rankings

    # -- new models without history ---------------------------------------------------------

    def add_models(self, cards: Sequence[ModelCard]) -> list[str]:
        """Add models that have no history: their vectors are predicted from their features.

        A ridge regression from the zoo's model meta features to the fitted model vectors
        (:mod:`fennec_core.cold_models`) gives each new model a row of ``U``; with a
        posterior factorizer its uncertainty is the prior spread plus the regression's
        leave-one-out error. The models are then ranked alongside the rest, listed in
        ``Ranking.info["predicted_models"]``. Returns the ids added.
        """
        from fennec_core.cold_models import ModelVectorRegressor

        self._require_fitted()
        assert self.history is not None and self.factors is not None
        names = self._model_features()
        have = [m for m in self.history.model_ids if m not in self.predicted_models]
        rows = [self.history.model_index(m) for m in have]
        X = feature_matrix([self.models[m].meta for m in have], names)
        usable = self.history.mask[rows].any(axis=1) & np.isfinite(X).any(axis=1)
        reg = ModelVectorRegressor.fit(X[usable], names, self.factors.U[rows][usable])
        added = []
        for card in cards:
            if self.history.has_model(card.id):
                raise InputError(f"model {card.id!r} is already in the zoo; give new models a new id")
            if not any(n in card.meta for n in names):
                raise InputError(f"model {card.id!r} has none of the zoo's model features ({', '.join(names)}); "
                                 "give them (e.g. `fennec add-model --model pytorchcv:NAME` computes them)")
            missing = [n for n in names if n not in card.meta]
            if missing:
                import warnings

                warnings.warn(f"model {card.id!r} lacks the zoo features {', '.join(missing)}: the zoo's mean is used "
                              "for them (fit the zoo with `--archi ENCODER` so new architectures get archi2vec "
                              "features)", stacklevel=2)
            added.append(card)
        if not added:
            return []
        Xn = feature_matrix([c.meta for c in added], names)
        U_new = reg.predict(Xn)
        m0, n = self.history.shape
        scores = np.vstack([self.history.scores, np.full((len(added), n), np.nan)])
        mask = np.vstack([self.history.mask, np.zeros((len(added), n), dtype=bool)])
        self.history = History((*self.history.model_ids, *[c.id for c in added]), self.history.task_ids, scores, mask)
        extras = dict(self.factors.extras)
        if "U_cov" in extras:
            cov = extras["U_cov"].mean(axis=0) + np.diag(reg.residual_var)
            extras["U_cov"] = np.concatenate([extras["U_cov"], np.repeat(cov[None], len(added), axis=0)])
        self.factors = Factors(np.vstack([self.factors.U, U_new]), self.factors.V, extras, self.factors.info)
        for c in added:
            self.models[c.id] = c
            self.predicted_models.append(c.id)
        return [c.id for c in added]

    def predict_cells(self, model_ids: Sequence[str], task_ids: Sequence[str]) -> np.ndarray:
        """Merged predicted scores (normalised) of models on historical tasks: [len(models), len(tasks)]."""
        self._require_fitted()
        assert self.history is not None and self.factors is not None
        rows = [self.history.model_index(m) for m in model_ids]
        cols = [self.history.task_index(t) for t in task_ids]
        transfer = self.factors.U[rows] @ self.factors.V[cols].T
        out = np.empty_like(transfer)
        X = None
        if self.meta_model is not None:
            X = feature_matrix([self.models[m].meta for m in model_ids], self.meta_model.model_features)
        for k, t in enumerate(task_ids):
            parts = {"transfer": transfer[:, k]}
            if self.meta_model is not None and X is not None:
                feats = self.tasks[t].features()
                tx = np.array([feats.get(f, np.nan) for f in self.meta_model.task_features])
                parts["meta"] = self.meta_model.predict(X, tx)
            out[:, k] = self.merger.merge(parts)
        return out

    # -- incremental updates -----------------------------------------------------------------

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

        A new task's vector is folded in from its scores (normalised with its own offset and
        scale, as a refit would); a new model's vector is folded in from its scores on known
        tasks (with the ``fold_in_model`` of the factorizer). A full refit happens instead
        when cells of existing (model, task) pairs change, or when the new cells' fold-in
        residual RMSE exceeds ``refit_threshold`` x the *reference*: the median residual RMSE
        of the existing tasks folded in the same way (what a fold-in usually leaves; the fit's
        own RMSE would be too strict, as the fit saw those cells). Returns a report: what was
        added, whether it refit, and why.
        """
        self._require_fitted()
        assert self.history is not None and self.factors is not None and self.normalizer is not None
        add = _load_history(new)
        old = self.history
        self.history, overlap = old.extended(add)
        new_models = list(self.history.model_ids[old.shape[0]:])
        new_tasks = list(self.history.task_ids[old.shape[1]:])
        for c in models or []:
            self.models[c.id] = c
        for c in tasks or []:
            self.tasks[c.id] = c
        for m in new_models:
            self.models.setdefault(m, ModelCard(m))
        for t in new_tasks:
            self.tasks.setdefault(t, TaskCard(t))
        report: dict[str, Any] = {"new_models": new_models, "new_tasks": new_tasks, "refit": False, "reason": None}
        reason = None
        if force_refit:
            reason = "forced"
        elif overlap:
            reason = f"{overlap} cell(s) of existing models on existing tasks changed"
        elif new_models and not hasattr(self.factorizer, "fold_in_model"):
            reason = f"factorizer {self.factorizer_name!r} cannot fold in new models"
        if reason is None:
            reason = self._fold_in_new(old, new_models, new_tasks, refit_threshold, report)
            self._mapper = None
        if reason is not None:
            self._fit_parts()
            report.update(refit=True, reason=reason)
        return report

    def _fold_in_new(self, old: History, new_models: list[str], new_tasks: list[str], threshold: float,
                     report: dict[str, Any]) -> str | None:
        """Fold new rows and columns into the factors; returns a reason to refit, or None.

        Touches only the new cells (plus the meta model, which is refit when in use), so
        its cost does not grow with the size of the existing history.
        """
        assert self.history is not None and self.factors is not None and self.normalizer is not None
        hist = self.history
        m0, n0 = old.shape
        m1, n1 = hist.shape
        # new tasks get their own normalisation (as a refit would); existing tasks keep theirs
        new_norm = TaskNormalizer.fit(hist.scores[:, n0:], hist.mask[:, n0:], self.normalization)
        normalizer = TaskNormalizer(self.normalization, np.concatenate([self.normalizer.offset, new_norm.offset]),
                                    np.concatenate([self.normalizer.scale, new_norm.scale]))
        U, V = self.factors.U, self.factors.V
        sq_err, count = 0.0, 0
        new_u = []
        for i in range(m0, m1):
            obs = hist.mask[i, :n0]
            if not obs.any():
                return f"new model {hist.model_ids[i]!r} has no score on a known task"
            z = (np.where(obs, hist.scores[i, :n0], 0.0) - normalizer.offset[:n0]) / normalizer.scale[:n0]
            u = self.factorizer.fold_in_model(self.factors, z, obs)
            sq_err += float(np.sum((V[obs] @ u - z[obs]) ** 2))
            count += int(obs.sum())
            new_u.append(u)
        U2 = np.vstack([U, *new_u]) if new_u else U
        tmp = Factors(U2, V, self._extend_extras(len(new_u), 0), self.factors.info)
        new_v = []
        for j in range(n0, n1):
            obs = hist.mask[:, j]
            if not obs.any():
                return f"new task {hist.task_ids[j]!r} has no score"
            z = (np.where(obs, hist.scores[:, j], 0.0) - normalizer.offset[j]) / normalizer.scale[j]
            v = self.factorizer.fold_in(tmp, z, obs)
            sq_err += float(np.sum((U2[obs] @ v - z[obs]) ** 2))
            count += int(obs.sum())
            new_v.append(v)
        V2 = np.vstack([V, *new_v]) if new_v else V
        rmse = float(np.sqrt(sq_err / max(count, 1)))
        reference = self.factors.info.get("fold_in_reference_rmse")
        if reference is None:
            Pn = np.where(old.mask, self.normalizer.transform(old.scores), 0.0)
            reference = self._fold_in_reference(Pn, old.mask)
        report.update(fold_in_rmse=rmse, reference_rmse=reference, threshold=threshold)
        if rmse > threshold * max(reference, 1e-6):
            return f"fold-in residual RMSE {rmse:.4f} > {threshold} x reference {reference:.4f}"
        self.normalizer = normalizer
        self.factors = Factors(U2, V2, self._extend_extras(len(new_u), len(new_v)), dict(self.factors.info))
        if self.use_meta and self._model_features():
            Pn = np.where(hist.mask, normalizer.transform(hist.scores), 0.0)
            self.meta_model = self._fit_meta(Pn, hist.mask)
        if hasattr(self.merger, "fit"):
            self.merger.fit(engine=self)
        return None

    def _fold_in_reference(self, Pn: np.ndarray, mask: np.ndarray, max_tasks: int = 50) -> float:
        """Median RMSE of existing tasks folded in as if new: what a fold-in usually leaves."""
        assert self.factors is not None
        errs = []
        for j in range(min(Pn.shape[1], max_tasks)):
            obs = mask[:, j]
            if obs.sum() < 2:
                continue
            v = self.factorizer.fold_in(self.factors, Pn[:, j], obs)
            errs.append(float(np.sqrt(np.mean((self.factors.U[obs] @ v - Pn[obs, j]) ** 2))))
        return float(np.median(errs)) if errs else 0.0

    def _extend_extras(self, add_models: int, add_tasks: int) -> dict[str, np.ndarray]:
        """Factor extras for appended rows: posterior covariances of folded-in rows (prior spread)."""
        assert self.factors is not None
        ex = dict(self.factors.extras)
        if "U_cov" in ex and add_models:
            ex["U_cov"] = np.concatenate([ex["U_cov"], np.repeat(ex["U_cov"].mean(0, keepdims=True), add_models, 0)])
        if "V_cov" in ex and add_tasks:
            ex["V_cov"] = np.concatenate([ex["V_cov"], np.repeat(ex["V_cov"].mean(0, keepdims=True), add_tasks, 0)])
        return ex

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
            warm_strength=self.warm_strength,
            device=self.device,
            seed=self.seed,
            registry=self.registry,
            task_mapping=self.task_mapping,
            ranker=self.ranker_name,
            ranker_config=self.ranker_config,
        )

    def evaluate(
        self,
        history: History | str | os.PathLike[str] | None = None,
        *,
        protocol: str = "loo",
        models: Sequence[ModelCard] | None = None,
        tasks: Sequence[TaskCard] | None = None,
        progress: bool = False,
        repeats: int = 5,
        task_embeddings: Mapping[str, np.ndarray] | None = None,
    ) -> Any:
        """Evaluate this engine's configuration under ``protocol`` (``loo``, ``loo-warm:K``).

        Uses the fitted history and cards when ``history`` is None. With ``task_embeddings``
        (proxy embeddings per task) each hidden task is ranked from its own embeddings, the
        mapping learned on the other tasks only. Returns an
        :class:`fennec_core.evaluation.EvaluationReport` with the static baseline beside it.
        """
        from fennec_core.evaluation import evaluate

        if history is None:
            self._require_fitted()
            hist = self.history
            models = models if models is not None else list(self.models.values())
            tasks = tasks if tasks is not None else list(self.tasks.values())
            if task_embeddings is None and self.task_embeddings:
                task_embeddings = self.task_embeddings
        else:
            hist = _load_history(history)
        assert hist is not None
        return evaluate(self, hist, protocol=protocol, models=models, tasks=tasks, progress=progress, repeats=repeats,
                        task_embeddings=task_embeddings)

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
        if self.archi is not None:
            for name, arr in self.archi.arrays().items():
                arrays[f"archi/{name}"] = arr
        ranker_manifest = None
        if self.ranker is not None:
            r_arrays, r_attrs = self.ranker.state() if hasattr(self.ranker, "state") else ({}, {})
            arrays.update({f"ranker/{k}": v for k, v in r_arrays.items()})
            ranker_manifest = {"name": self.ranker_name, "config": self.ranker_config, "attributes": r_attrs}
        proxy_manifest = None
        if self.task_embeddings:
            from fennec_core.task_embeddings import pack_embeddings

            packed, proxy_manifest = pack_embeddings(self.task_embeddings)
            arrays["proxy/embeddings"] = packed
            proxy_manifest["proxy"] = self.proxy
        fcfg = dict(self.factorizer_config)
        if self.k_selection is not None:
            fcfg["k"] = self.k_selection["k"]
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
                "factorizer": {"name": self.factorizer_name, "config": fcfg, "requested_config": self.factorizer_config},
                "score_merger": {"name": self.score_merger_name, "config": self.score_merger_config},
            },
            "settings": {"normalization": self.normalization, "use_meta": self.use_meta, "seed": self.seed,
                         "warm_strength": self.warm_strength, "resolved_warm_strength": self._warm_strength,
                         "task_mapping": self.task_mapping},
            "k_selection": self.k_selection,
            "predicted_models": self.predicted_models,
            "factors_info": self.factors.info,
            "meta_model": self.meta_model.attributes() if self.meta_model else None,
            "archi": self.archi.attributes() if self.archi is not None else None,
            "task_embeddings": proxy_manifest,
            "ranker": ranker_manifest,
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
                warm_strength=settings.get("warm_strength", "auto"),
                device=device,
                seed=settings["seed"],
                registry=registry,
                task_mapping=settings.get("task_mapping", "kernel-ridge"),
                ranker=(man.get("ranker") or {}).get("name", "fennec"),
                ranker_config=(man.get("ranker") or {}).get("config"),
            )
            if settings.get("resolved_warm_strength") is not None:
                eng._warm_strength = float(settings["resolved_warm_strength"])
            eng.k_selection = man.get("k_selection")
            eng.predicted_models = list(man.get("predicted_models") or [])
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
            if man.get("archi"):
                from fennec_core.archi import ArchiEncoding

                archi_arrays = {k.removeprefix("archi/"): v for k, v in arrays.items() if k.startswith("archi/")}
                eng.archi = ArchiEncoding.from_stored(archi_arrays, man["archi"])
            if man.get("task_embeddings"):
                from fennec_core.task_embeddings import unpack_embeddings

                emb = unpack_embeddings(arrays["proxy/embeddings"], man["task_embeddings"])
                eng.set_task_embeddings(emb, man["task_embeddings"].get("proxy"))
            if man.get("ranker") and eng.ranker is not None and hasattr(eng.ranker, "load_state"):
                r_arrays = {k.removeprefix("ranker/"): v for k, v in arrays.items() if k.startswith("ranker/")}
                eng.ranker.load_state(r_arrays, man["ranker"]["attributes"])
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, FennecError):
                raise StoreError(f"{path}: inconsistent store ({exc}); refit with `fennec fit`") from None
            raise StoreError(f"{path}: store manifest is incomplete ({type(exc).__name__}: {exc}); "
                             "refit with `fennec fit`") from None
        if hasattr(eng.merger, "fit"):
            eng.merger.fit(engine=eng)
        return eng
