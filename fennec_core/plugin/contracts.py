"""Written contracts: what a component must do, and what it may do, for the engine to use it.

Each component kind has one *required* protocol (what its factory must return) and may offer
*optional capabilities*, each a small protocol of its own. The engine asks for a capability
in exactly one way, :func:`supports`; it never probes attributes elsewhere. Components return
numpy arrays, never pickles, so a fitted zoo is stored as plain arrays and JSON.

Plugins see a fitted zoo as a :class:`fennec_core.zoo.FittedZoo` record -- never the engine.

=================  ==================  ===============================================
kind               required            optional capabilities
=================  ==================  ===============================================
factorizer         Factorizer          CellFactorizer, NonNegative, PriorFoldIn,
                                       PosteriorFactorizer, ModelFoldIn, HistoryReader,
                                       LatentSize (and ``Factors.info["k"]``), Named
score_merger       ScoreMerger         ScoreLike, FittableMerger, Stateful
ranker             Ranker              Stateful
graph_encoder      GraphEncoder        Configured, EncoderState
task_proxy         TaskProxy           Specified (``spec()``: what a zoo records about it),
                                       Modal (``modality``: ``"text"`` or ``"images"``)
estimator          Estimator
=================  ==================  ===============================================
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from fennec_core.records import ArchGraph, Factors
    from fennec_core.zoo import FittedZoo


# -- factorizers -----------------------------------------------------------------------------


@runtime_checkable
class Factorizer(Protocol):
    """Splits a masked history matrix ``P`` (m models x n tasks) into ``U V^T``."""

    def fit(self, P: np.ndarray, mask: np.ndarray) -> Factors:
        """Factorize ``P`` using only cells where ``mask`` is True; returns :class:`Factors`."""
        ...

    def fold_in(self, factors: Factors, observed: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Return the vector (k,) of a new task from its observed normalised scores (m,) under ``mask``."""
        ...


@runtime_checkable
class LatentSize(Protocol):
    """A factorizer that says its latent size ``k`` (a fitted one also writes it in
    ``Factors.info["k"]``, which is what the engine reads: ``U`` may hold more columns, as pmf's
    two bias columns)."""

    k: int


def latent_size(factors: Factors, factorizer: Any = None) -> int:
    """The latent size of fitted ``factors``: ``info["k"]``; for factors stored before factorizers
    wrote it, the ``factorizer``'s ``k`` (:class:`LatentSize`), else ``U``'s column count."""
    if "k" in factors.info:
        return int(factors.info["k"])
    return int(factorizer.k) if supports(factorizer, LatentSize) else int(factors.k)


@runtime_checkable
class CellFactorizer(Protocol):
    """A factorizer that fits the observed cells themselves, never a dense matrix.

    The engine prefers it: a history of 50,000 models x 10,000 tasks with 1.6M results is 26 MB
    as cells and 4.5 GB as a dense matrix plus mask. A factorizer without it gets the dense
    ``fit(P, mask)``, which only small histories allow
    (:data:`fennec_core.table.DENSE_VIEW_MAX_CELLS`).
    """

    def fit_cells(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                  shape: tuple[int, int]) -> Factors:
        """Factorize a (models, tasks) ``shape`` from its observed cells: ``values[c]`` (normalised)
        at row ``rows[c]``, column ``cols[c]``, listed row-major (by row, then column), each once."""
        ...


@runtime_checkable
class NonNegative(Protocol):
    """A factorizer that needs non-negative scores (``normalization="auto"`` then picks minmax)."""

    requires_nonnegative: bool


class PriorFoldIn(Protocol):
    """A factorizer whose ``fold_in`` shrinks the new task's vector toward a prior.

    ``fold_in(factors, observed, mask, *, prior, strength)``: ``prior`` (k,) is the vector
    to shrink toward (the cold or proxy vector), ``strength`` >= 0 how strongly. Detected by
    the ``prior`` keyword of ``fold_in``.
    """

    def fold_in(self, factors: Factors, observed: np.ndarray, mask: np.ndarray, *,
                prior: np.ndarray | None = None, strength: float = 0.0) -> np.ndarray:
        """The shrunk task vector (k,)."""
        ...


@runtime_checkable
class PosteriorFactorizer(Protocol):
    """A factorizer with a Gaussian posterior: intervals, ``explore`` and Bayesian warm start."""

    def task_prior(self, factors: Factors) -> tuple[np.ndarray, np.ndarray]:
        """(mean (k,), covariance (k, k)) of a new task's vector before anything is known."""
        ...

    def fold_in_posterior(self, factors: Factors, observed: np.ndarray, mask: np.ndarray, *,
                          prior_mean: np.ndarray | None = None, strength: float = 1.0,
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior (mean, covariance) of a new task's vector given its known normalised scores."""
        ...

    def predictive_variance(self, factors: Factors, task_mean: np.ndarray, task_cov: np.ndarray) -> np.ndarray:
        """Variance (m,) of every model's normalised score on a task with vector ~ N(mean, cov)."""
        ...


@runtime_checkable
class ModelFoldIn(Protocol):
    """A factorizer that folds in a new *model* from its scores on known tasks (``update``)."""

    def fold_in_model(self, factors: Factors, observed: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The model's vector (k,) from its normalised scores (n,) under ``mask``."""
        ...


@runtime_checkable
class HistoryReader(Protocol):
    """A factorizer that reads a history file itself (``spark-als``: CSV, CSV.gz or Parquet through
    Spark, from any path or URL Spark reads); ``fennec fit --history PATH`` then reads it so."""

    def read_history(self, path: str) -> Any:
        """The :class:`~fennec_core.table.History` stored at ``path`` (long ``model,task,score``)."""
        ...


# -- score mergers ---------------------------------------------------------------------------


@runtime_checkable
class ScoreMerger(Protocol):
    """Combines per-model score parts (``transfer``, ``meta``) into one final score."""

    def merge(self, parts: Mapping[str, np.ndarray]) -> np.ndarray:
        """Merge arrays of equal shape (..., m) into the final score (..., m)."""
        ...


@runtime_checkable
class ScoreLike(Protocol):
    """A merger whose output is still a predicted normalised score (a weighted sum of parts).

    The engine then reports ``predicted`` (and, with a posterior, ``low``/``high``) in the
    task's units; ``transfer_weight`` scales the transfer part's interval.
    """

    score_like: bool
    transfer_weight: float


@runtime_checkable
class FittableMerger(Protocol):
    """A merger that learns from the fitted zoo (e.g. ``learned``: ``w`` by leave-one-task-out)."""

    def fit(self, zoo: FittedZoo) -> Any:
        """Learn from ``zoo`` (history, factors, meta model, cards); called after every fit and update."""
        ...


# -- rankers ---------------------------------------------------------------------------------


@runtime_checkable
class Ranker(Protocol):
    """A whole ranking method behind ``Fennec(ranker=NAME)``, fitted on a fitted zoo."""

    def fit(self, zoo: FittedZoo) -> Any:
        """Learn from the zoo's history, model vectors and features, and task embeddings."""
        ...

    def scores(self, zoo: FittedZoo, task_embeddings: np.ndarray) -> np.ndarray:
        """One score per model of ``zoo`` (higher is better) for a task given by its item embeddings."""
        ...


# -- state -----------------------------------------------------------------------------------


@runtime_checkable
class Stateful(Protocol):
    """A fitted component whose state is saved in the store as arrays plus JSON, and restored
    at load without fitting again."""

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(named arrays, JSON attributes) of the fitted state."""
        ...

    def load_state(self, arrays: Mapping[str, np.ndarray], attributes: Mapping[str, Any]) -> Any:
        """Restore the state written by :meth:`state`."""
        ...


# -- architecture and task side ----------------------------------------------------------------


@runtime_checkable
class GraphEncoder(Protocol):
    """Maps architecture graphs to fixed-size vectors."""

    def fit(self, graphs: Sequence[ArchGraph]) -> GraphEncoder:
        """Learn the encoding from a zoo of graphs."""
        ...

    def transform(self, graphs: Sequence[ArchGraph]) -> np.ndarray:
        """Return one vector per graph, shape (len(graphs), d)."""
        ...


@runtime_checkable
class Configured(Protocol):
    """A graph encoder that reports its full settings (defaults included), which the zoo records
    to build the same encoder again for new models."""

    def config(self) -> dict[str, Any]:
        """JSON settings: ``factory(**config())`` builds an equivalent encoder."""
        ...


@runtime_checkable
class EncoderState(Protocol):
    """A graph encoder whose fitted state is stored as named arrays (``dgl-gin``'s weights), so new
    models are encoded later without fitting again; one without it is refitted on the stored
    graphs (which must reproduce the stored vectors)."""

    def state(self) -> dict[str, np.ndarray]:
        """The fitted state as named arrays."""
        ...

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> Any:
        """Restore :meth:`state` into this (unfitted) encoder; returns the encoder."""
        ...


@runtime_checkable
class TaskProxy(Protocol):
    """Embeds a task's unlabeled inputs (images, text) with a large pretrained model.

    Optional: ``modality`` (:class:`Modal`: ``"images"``, the default when absent, or ``"text"``;
    ``fit(task_images=...)`` refuses a text proxy in one line) and ``spec()`` (:class:`Specified`).
    """

    def embed(self, inputs: Any) -> np.ndarray:
        """Return per-item embeddings, shape (n_items, d)."""
        ...


@runtime_checkable
class Specified(Protocol):
    """A task proxy that says what a zoo records about it (to embed new tasks the same way)."""

    def spec(self) -> dict[str, Any]:
        """``{"name": registered name, "config": JSON settings}``."""
        ...


@runtime_checkable
class Modal(Protocol):
    """A task proxy that says what it embeds: ``modality`` is ``"text"`` (descriptions, class
    names) or ``"images"``; a proxy without it embeds images. Read from the built proxy object."""

    modality: str


def proxy_modality(proxy: Any) -> str:
    """What ``proxy`` embeds: its ``modality`` (:class:`Modal`), ``"images"`` when it says none."""
    return str(proxy.modality) if supports(proxy, Modal) else "images"


def proxy_spec(proxy: Any, name: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """What a zoo records about ``proxy``: its ``spec()`` (:class:`Specified`), else the name and
    config it was built with."""
    return proxy.spec() if supports(proxy, Specified) else {"name": name, "config": dict(config)}


@runtime_checkable
class Estimator(Protocol):
    """A forward-pass transferability score (LogME, LEEP, ...): higher transfers better."""

    def score(self, *, features: np.ndarray, labels: np.ndarray, probs: np.ndarray | None = None) -> float:
        """Score penultimate-layer ``features`` [n, d] against integer ``labels`` [n]."""
        ...


@runtime_checkable
class Backbone(Protocol):
    """A frozen feature extractor with real weights on this machine (``fennec probe``).

    Class attribute ``modality``: ``"images"`` or ``"text"``. Optional capabilities:
    :class:`Locating` (``locate()``), :class:`Loading` (``load()``), :class:`WithoutSourceProbs`
    (``has_probs = False``: ``encode`` returns no source softmax, so NCE and LEEP are refused up front).
    """

    modality: str

    def encode(self, inputs: Any) -> Any:
        """Return an ``Encoded`` (features [n, d], probs [n, C_src] or None) for a list of inputs."""
        ...


@runtime_checkable
class Locating(Protocol):
    """A backbone that says where its weights lie before any forward pass: ``locate()`` returns
    the weights file or raises (absent weights fail in a second, not after minutes)."""

    def locate(self) -> Any:
        """The weights file (or folder); a FennecError naming what to install when absent."""
        ...


@runtime_checkable
class Loading(Protocol):
    """A backbone whose weights load apart from ``encode``: ``load()``, timed apart from probing."""

    def load(self) -> Any:
        """Load (and check) the weights."""
        ...


@runtime_checkable
class WithoutSourceProbs(Protocol):
    """A backbone with no source classifier head: ``has_probs = False``."""

    has_probs: bool


@runtime_checkable
class NeedsSourceProbs(Protocol):
    """An estimator that reads the source classifier's softmax (NCE, LEEP): ``needs_probs = True``."""

    needs_probs: bool


#: The required protocol of each component kind (checked when a component is created).
REQUIRED: dict[str, type] = {
    "factorizer": Factorizer,
    "score_merger": ScoreMerger,
    "ranker": Ranker,
    "graph_encoder": GraphEncoder,
    "task_proxy": TaskProxy,
    "estimator": Estimator,
    "backbone": Backbone,
}


@runtime_checkable
class Named(Protocol):
    """A component that says its registered name (messages use it; else its class name)."""

    name: str


def component_name(component: Any) -> str:
    """``component``'s ``name`` (:class:`Named`), else its class name: for messages."""
    return str(component.name) if supports(component, Named) else type(component).__name__


def supports(component: Any, capability: type) -> bool:
    """Whether ``component`` offers ``capability`` (one of the protocols above).

    The one place the engine asks: boolean attributes (``requires_nonnegative``,
    ``score_like``) must also be true; :class:`PriorFoldIn` is read from ``fold_in``'s
    signature.
    """
    if capability is PriorFoldIn:
        try:
            return "prior" in inspect.signature(component.fold_in).parameters
        except (AttributeError, TypeError, ValueError):
            return False
    if capability is NonNegative:
        return bool(getattr(component, "requires_nonnegative", False))
    if capability is ScoreLike:
        return bool(getattr(component, "score_like", False))
    if capability is NeedsSourceProbs:
        return bool(getattr(component, "needs_probs", False))
    if capability is WithoutSourceProbs:
        return not bool(getattr(component, "has_probs", True))
    return isinstance(component, capability)


def transfer_weight(merger: Any) -> float:
    """Weight of the transfer part in a :class:`ScoreLike` merger's output (1 when it says none)."""
    return float(getattr(merger, "transfer_weight", 1.0))


@runtime_checkable
class EvaluationProtocol(Protocol):
    """An evaluation protocol (``loo``, ``loo-warm:3``, ...): ``name`` is the spec reports show,
    ``options`` the keyword options ``run`` takes; ``folds(history, tasks)`` lists what each fold
    hides as ``(index, id)``; ``run(data, **options)`` gets the prepared
    :class:`fennec_core.evaluation.protocol_base.EvaluationInputs` and returns a report with
    ``to_dict()``, ``format_table()``, ``write_predictions(path)`` and ``predictions``."""

    name: str
    options: Any

    def folds(self, history: Any, tasks: Any) -> list[tuple[int, str]]: ...

    def run(self, data: Any, **options: Any) -> Any: ...


REQUIRED["protocol"] = EvaluationProtocol


@attrs.frozen(eq=False)
class Encoded:
    """What a backbone returns for a batch: penultimate features [n, d] and, for a classifier
    with a source head, its softmax [n, C_src] (None otherwise: NCE and LEEP then do not apply)."""

    features: np.ndarray
    probs: np.ndarray | None = None
