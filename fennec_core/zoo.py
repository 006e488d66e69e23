"""The fitted zoo: one immutable record of everything fitting produces.

:class:`FittedZoo` is what a :class:`fennec_core.engine.Fennec` holds after ``fit`` or
``load`` (its ``zoo_`` attribute), what the store codec writes and reads
(:mod:`fennec_core.io.zoo_codec`), and what plugins receive: a fittable score merger's
``fit(zoo)`` and a ranker's ``fit(zoo)`` / ``scores(zoo, ...)`` see this record and nothing
of the engine. Changing a zoo (``update``, ``add_models``) makes a new record
(:func:`attrs.evolve`); a record never changes.

The methods below are the documented way for a plugin to read model and task features and
the normalised history, so that no part of Fennec builds them its own way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from fennec_core.records import Factors, History, ModelCard, TaskCard

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.architecture.encoding import ArchiEncoding
    from fennec_core.history.normalize import TaskNormalizer
    from fennec_core.scoring.meta_score import MetaModel
    from fennec_core.scoring.probes import ProbeMapping


def _frozen_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


class StoredModelCards(Mapping[str, ModelCard]):
    """The model cards of a stored zoo, made from its feature matrix when first asked for.

    A zoo of 2,696 models took longer to make its cards than to rank; a ranking needs only the
    feature matrix, which the store keeps as it is. ``ids``/``architectures``: one per model;
    ``features``: (models, names) with NaN where a card has no value (as :meth:`FittedZoo.model_features`
    writes it); ``attributes``: categorical card values as columns ``{name: [value or None per model]}``.
    Reads like the dict of cards it stands for; a card, once made, is kept.
    """

    def __init__(self, ids: Sequence[str], architectures: Sequence[str | None], feature_names: Sequence[str],
                 features: np.ndarray, attributes: Mapping[str, Sequence[str | None]] | None = None) -> None:
        features = np.asarray(features, dtype=np.float64)
        if features.shape != (len(ids), len(feature_names)) or len(architectures) != len(ids):
            raise ValueError(f"model features are {features.shape}, expected ({len(ids)}, {len(feature_names)})")
        self._ids = tuple(ids)
        self._pos = {m: i for i, m in enumerate(self._ids)}
        if len(self._pos) != len(self._ids):
            raise ValueError("model ids repeat")
        self._arch = tuple(architectures)
        if not all(isinstance(m, str) and m for m in self._ids):
            raise ValueError("model ids must be non-empty strings")
        if not all(a is None or isinstance(a, str) for a in self._arch):
            raise ValueError("model architectures must be reference strings or None")
        self._names = tuple(str(n) for n in feature_names)
        self._features = np.where(np.isfinite(features), features, np.nan)
        self._features.setflags(write=False)
        self._attributes = {str(n): tuple(v) for n, v in (attributes or {}).items()}
        if any(len(v) != len(self._ids) for v in self._attributes.values()):
            raise ValueError("model attributes: a column's length differs from the number of models")
        self._made: dict[str, ModelCard] = {}

    def __getitem__(self, model: str) -> ModelCard:
        card = self._made.get(model)
        if card is None:
            i = self._pos[model]  # KeyError for an unknown id, as a dict
            row = self._features[i]
            card = ModelCard(model, self._arch[i], {n: float(x) for n, x in zip(self._names, row, strict=True)
                                                     if not np.isnan(x)},
                             attributes={n: v[i] for n, v in self._attributes.items() if v[i] is not None})
            self._made[model] = card
        return card

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, model: object) -> bool:
        return model in self._pos

    def columns(self, model_ids: Sequence[str]) -> tuple[list[str | None], dict[str, list[str | None]]]:
        """(architectures, categorical values as columns ``{name: [value or None per model]}``, only
        the names some model has, sorted) of ``model_ids``: what their cards hold, without making
        the cards (a store rewritten after an update has 50,000 of them)."""
        rows = [self._pos[m] for m in model_ids]
        columns = {n: [v[i] for i in rows] for n, v in sorted(self._attributes.items())}
        return [self._arch[i] for i in rows], {n: c for n, c in columns.items() if any(x is not None for x in c)}

    def feature_names(self) -> list[str]:
        """Names of the features some model has (a column that is not all NaN), sorted."""
        keep = ~np.isnan(self._features).all(axis=0) if len(self._ids) else np.zeros(len(self._names), bool)
        return sorted(n for n, k in zip(self._names, keep, strict=True) if k)

    def matrix(self, names: Sequence[str], model_ids: Sequence[str]) -> np.ndarray:
        """(models, names) features, NaN where missing: what cards would give, from the array."""
        rows = [self._pos[m] for m in model_ids]
        col = {n: j for j, n in enumerate(self._names)}
        out = np.full((len(rows), len(names)), np.nan)
        for k, n in enumerate(names):
            if n in col:
                out[:, k] = self._features[rows, col[n]]
        return out


def _cards(value: Mapping[str, ModelCard] | None) -> Mapping[str, ModelCard]:
    return value if isinstance(value, StoredModelCards) else dict(value or {})


@attrs.frozen(eq=False)
class ComponentState:
    """A stateful component's fitted state as the store keeps it: named arrays plus JSON."""

    arrays: dict[str, np.ndarray] = attrs.field(factory=dict, converter=_frozen_dict)
    attributes: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen(eq=False)
class TrainedRanker:
    """A ranker plugin trained on a zoo: the config it was built with and its fitted state."""

    config: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    state: ComponentState = attrs.field(factory=ComponentState)


@attrs.frozen(eq=False, kw_only=True)
class FittedZoo:
    """Everything a fitted Fennec knows, in normalised score space where it matters.

    ``history``: the observed model x task scores (raw units). ``models`` / ``tasks``: a card
    per model of the history (a dict, or a loaded zoo's :class:`StoredModelCards`), and per task (tasks of the history plus any further described
    ones). ``normalizer``: each task's offset and scale. ``factors``: ``U V^T`` of the
    normalised history. ``meta_model``: the meta-score model, or None (no model features, or
    ``use_meta=False``). ``k_selection``: the cross-validated choice of ``k`` when it was
    ``"auto"``. ``predicted_models``: models added without history (their rows of ``U`` are
    predicted from features). ``archi``: the architecture encoding the model features came
    from. ``task_embeddings`` / ``proxy``: historical tasks' items embedded by a task proxy,
    and that proxy's spec. ``warm_strength``: the resolved warm-start shrinkage (None until
    chosen). ``merger_state``: a fittable merger's state. ``rankers``: the ranker plugins
    trained on this zoo, by name (a zoo may hold several, e.g. the bundled zoo's
    ``model-spider``); the engine's ``ranker`` setting says which one ranks, and ``fennec``
    (the pipeline) needs none.
    """

    history: History
    models: Mapping[str, ModelCard] = attrs.field(converter=_cards)
    tasks: dict[str, TaskCard] = attrs.field(converter=_frozen_dict)
    normalizer: TaskNormalizer
    factors: Factors
    meta_model: MetaModel | None = None
    k_selection: dict[str, Any] | None = None
    predicted_models: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    archi: ArchiEncoding | None = None
    task_embeddings: dict[str, np.ndarray] = attrs.field(factory=dict, converter=_frozen_dict)
    proxy: dict[str, Any] | None = None
    warm_strength: float | None = None
    merger_state: ComponentState | None = None
    rankers: dict[str, TrainedRanker] = attrs.field(factory=dict, converter=_frozen_dict)
    #: how probe scores map onto the normalised results, per estimator (:mod:`fennec_core.scoring.probes`)
    probe_mapping: ProbeMapping | None = None
    #: Derived matrices built once, on first use (model features): the record never changes, so
    #: they never go stale; :meth:`with_changes` starts a new record with an empty cache.
    _derived: dict[Any, Any] = attrs.field(factory=dict, init=False, repr=False, eq=False)

    # -- ids ------------------------------------------------------------------------------

    @property
    def model_ids(self) -> tuple[str, ...]:
        """Models in storage order (rows of ``history`` and ``factors.U``)."""
        return self.history.model_ids

    @property
    def task_ids(self) -> tuple[str, ...]:
        """Historical tasks in storage order (columns of ``history``, rows of ``factors.V``)."""
        return self.history.task_ids

    def task_card(self, task: TaskCard | str | None) -> TaskCard | None:
        """The card of ``task``: given, the zoo's own for a known id, else a bare card."""
        if task is None or isinstance(task, TaskCard):
            return task
        return self.tasks.get(task, TaskCard(task))

    # -- features ---------------------------------------------------------------------------

    def model_feature_names(self) -> list[str]:
        """Every model meta feature any card has, sorted (the columns of :meth:`model_features`)."""
        names = self._derived.get("model_feature_names")
        if names is None:
            names = tuple(self.models.feature_names() if isinstance(self.models, StoredModelCards) else
                          sorted({k for c in self.models.values() for k in c.meta}))
            self._derived["model_feature_names"] = names
        return list(names)

    def task_feature_names(self) -> list[str]:
        """Every task feature any historical task's card has, sorted."""
        return sorted({k for t in self.task_ids for k in self.tasks[t].features()})

    def model_features(self, names: list[str] | tuple[str, ...] | None = None,
                       model_ids: tuple[str, ...] | list[str] | None = None) -> np.ndarray:
        """Model meta features as a matrix (models, names); a missing value is NaN.

        Defaults: every model of the zoo, every feature name (:meth:`model_feature_names`).
        The matrix of all models for a list of names is built once per record (a ranking of a
        fresh task needs it, and building it from the cards costs more than the ranking itself)
        and returned read-only; rows of given models are taken from it.
        """
        from fennec_core.scoring.meta_score import feature_matrix

        key = ("model_features", tuple(self.model_feature_names() if names is None else names))
        full = self._derived.get(key)
        if full is None:
            if isinstance(self.models, StoredModelCards):
                full = self.models.matrix(key[1], self.model_ids)
            else:
                full = feature_matrix([self.models[m].meta for m in self.model_ids], key[1])
            full.setflags(write=False)
            self._derived[key] = full
        if model_ids is None:
            return full
        hist = self.history
        if all(hist.has_model(m) for m in model_ids):
            return full[[hist.model_index(m) for m in model_ids]]
        return feature_matrix([self.models[m].meta for m in model_ids], key[1])

    # -- normalised history ------------------------------------------------------------------

    def normalized(self) -> np.ndarray:
        """The history in normalised units as a dense matrix, 0 where unobserved (what the
        factorizer saw; small histories only, see :meth:`normalized_column`)."""
        return np.where(self.history.mask, self.normalizer.transform(self.history.scores), 0.0)

    def normalized_column(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(model rows, normalised scores) of the observed cells of task column ``j``."""
        return self.normalizer.column(self.history, j)

    def task_units(self, card: TaskCard | None) -> tuple[float, float, str]:
        """(offset, scale, source) of a task's raw units: its own, else the historical median."""
        if card is not None and self.history.has_task(card.id):
            j = self.history.task_index(card.id)
            return float(self.normalizer.offset[j]), float(self.normalizer.scale[j]), "the task's own"
        return (float(np.median(self.normalizer.offset)), float(np.median(self.normalizer.scale)),
                "median of the historical tasks'")

    def fit_meta(self, *, exclude_task: int | None = None) -> MetaModel | None:
        """A meta model fitted on this zoo's history (without column ``exclude_task``).

        None when no model has meta features. Used at fit time and by the ``learned`` merger's
        leave-one-task-out.
        """
        from fennec_core.scoring.meta_score import MetaModel

        mnames = self.model_feature_names()
        if not mnames:
            return None
        keep = [j for j in range(len(self.task_ids)) if j != exclude_task]
        tnames = self.task_feature_names()
        tX = np.array([[self.tasks[self.task_ids[j]].features().get(f, np.nan) for f in tnames] for j in keep],
                      dtype=np.float64).reshape(len(keep), len(tnames))
        return MetaModel.fit_columns(self.model_features(mnames), mnames, tX, tnames,
                                     [self.normalized_column(j) for j in keep])

    def with_changes(self, **changes: Any) -> FittedZoo:
        """A new record with some fields replaced (this one is unchanged)."""
        return attrs.evolve(self, **changes)


def train_ranker(zoo: FittedZoo, ranker: Any, name: str, config: dict[str, Any]) -> FittedZoo:
    """``zoo`` holding ``ranker`` (a built ranker plugin) trained on it, as ``zoo.rankers[name]``."""
    from fennec_core.plugin.contracts import Stateful, supports

    ranker.fit(zoo)
    state = ComponentState(*ranker.state()) if supports(ranker, Stateful) else ComponentState()
    return zoo.with_changes(rankers={**zoo.rankers, name: TrainedRanker(config, state)})
