"""Probing: score candidate models on the user's own labelled sample with their real weights.

A probe is one forward pass of a model whose weights are on this machine (a *backbone*, see
``fennec_register_backbones``) over a small labelled sample, and a transferability estimator
(LogME by default) scoring the frozen features against the labels. It costs seconds per
model, against hours for fine-tuning, and gives evidence about *this* task that the history
alone cannot: ``fennec rank --probes`` folds the scores into the ranking.

- :func:`probe_models` runs it (the Python API of ``fennec probe``) and returns one
  :class:`ProbeScore` per (model, estimator), with the time each model took.
- :func:`resolve_backbone` maps a model id to its backbone: a registered name
  (``mobilenet-v2``) or ``scheme:name`` (``torchvision:resnet50``); nothing is downloaded
  unless ``allow_download``.
- :func:`linear_probe_accuracy` is the ground truth the estimators stand in for:
  cross-validated accuracy of a logistic regression on the frozen features.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from fennec_core.errors import FennecError, InputError
from fennec_core.plugin.contracts import (
    Loading,
    Locating,
    NeedsSourceProbs,
    WithoutSourceProbs,
    supports,
)

#: Probe CSV header (``fennec probe -o``; ``fennec rank --probes`` reads it).
PROBE_COLUMNS = ("model", "estimator", "score")


@attrs.frozen
class ProbeScore:
    """One probe result: a model's estimator score on the sample; the seconds its weights took to
    load and check, and the seconds of its forward pass plus this estimator."""

    model: str
    estimator: str
    score: float
    seconds: float
    n: int
    load_seconds: float = 0.0


@attrs.frozen(eq=False)
class ProbeSample:
    """A labelled sample to probe with: images (PIL) or texts, integer labels, class names."""

    inputs: list[Any]
    labels: np.ndarray
    classes: tuple[str, ...]
    modality: str
    source: str


def _registry() -> Any:
    from fennec_core.plugin import registry

    return registry.default_registry()


def resolve_backbone(model_id: str, *, allow_download: bool = False, batch_size: int = 32,
                     device: str = "cpu") -> Any:
    """The backbone for ``model_id``: a registered backbone name, or ``scheme:name`` when
    ``scheme`` is a registered backbone taking ``arch`` (``torchvision:resnet50``)."""
    reg = _registry()
    names = reg.available("backbone")
    config: dict[str, Any] = {"allow_download": allow_download, "batch_size": batch_size, "device": device}
    if model_id in names:
        return reg.build("backbone", model_id, config)
    scheme, _, rest = model_id.partition(":")
    if rest and scheme in names:
        return reg.build("backbone", scheme, {**config, "arch": rest})
    raise InputError(f"no local backbone for model {model_id!r}: known ones are {', '.join(names) or '(none)'} "
                     "(or SCHEME:NAME for a scheme among them, e.g. torchvision:resnet50); "
                     "`fennec plugins` lists backbones, and a plugin can add more")


def weights_missing(model_id: str) -> str | None:
    """Why ``model_id`` cannot be probed offline (no backbone, or its weights are absent), or None if it can."""
    try:
        backbone = resolve_backbone(model_id)
        if supports(backbone, Locating):
            backbone.locate()
    except FennecError as exc:
        return str(exc)
    return None


def read_image_sample(folder: str | os.PathLike[str], *, n: int = 200, seed: int = 0) -> ProbeSample:
    """A class-balanced, seeded sample of at most ``n`` images from ``folder/<class>/<images>``."""
    from fennec_core.task.inputs import load_task_images

    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"--images {path}: not a folder; give a folder with one subfolder of images per class")
    got = load_task_images(path, n=n, seed=seed)
    if got.labels is None:
        raise InputError(f"--images {path}: holds no class subfolders; a probe needs labels: put each class's "
                         "images in a subfolder named after the class")
    return labelled_sample(got.images, got.labels, "images", str(path))


def labelled_sample(inputs: list[Any], labels: Sequence[str], modality: str, source: str) -> ProbeSample:
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        raise InputError(f"{source}: a probe needs at least 2 classes, found {len(classes)}")
    counts = {c: 0 for c in classes}
    for lab in labels:
        counts[lab] += 1
    small = [c for c, k in counts.items() if k < 2]
    if small:
        raise InputError(f"{source}: class(es) {', '.join(small)} have fewer than 2 examples; add examples or "
                         "remove the class")
    index = {c: i for i, c in enumerate(classes)}
    return ProbeSample(list(inputs), np.array([index[lab] for lab in labels]), classes, modality, source)


def _estimators(names: Sequence[str]) -> list[tuple[str, Any]]:
    reg = _registry()
    if not names:
        raise InputError("give at least one estimator (e.g. logme)")
    return [(name, reg.build("estimator", name)) for name in names]


def probe_models(
    models: Sequence[str],
    sample: ProbeSample,
    *,
    estimators: Sequence[str] = ("logme",),
    allow_download: bool = False,
    device: str = "cpu",
    batch_size: int = 32,
    progress: Callable[[Iterable[str]], Iterable[str]] | None = None,
) -> list[ProbeScore]:
    """Score every model in ``models`` on ``sample`` with every estimator (default LogME).

    Every model must have a backbone of the sample's modality with weights on this machine;
    all are checked before the first forward pass, so a bad id fails in a second, not after
    minutes. An estimator that needs the source head's probabilities (NCE, LEEP) on a model
    without one is refused up front. ``progress`` wraps the model loop (e.g. ``tqdm``).
    """
    if not models:
        raise InputError("no models to probe; give model ids (see `fennec plugins` for backbones)")
    if len(set(models)) != len(models):
        raise InputError("a model is listed twice in the models to probe")
    ests = _estimators(estimators)
    backbones = []
    for model in models:
        backbone = resolve_backbone(model, allow_download=allow_download, batch_size=batch_size, device=device)
        if backbone.modality != sample.modality:
            raise InputError(f"model {model!r} reads {backbone.modality}, the sample holds {sample.modality}")
        for name, est in ests:
            if supports(est, NeedsSourceProbs) and supports(backbone, WithoutSourceProbs):
                raise InputError(f"estimator {name!r} needs a source classifier's probabilities, which {model!r} "
                                 "has none of; use logme, hscore or another feature-only estimator")
        if supports(backbone, Locating) and not allow_download:
            backbone.locate()  # absent weights fail before any forward pass
        backbones.append(backbone)
    out: list[ProbeScore] = []
    pairs = list(zip(models, backbones, strict=True))
    loop = progress(m for m, _ in pairs) if progress is not None else (m for m, _ in pairs)
    by_id = dict(pairs)
    for model in loop:
        backbone = by_id[model]
        start = time.perf_counter()
        if supports(backbone, Loading):
            backbone.load()
        loaded = time.perf_counter()
        encoded = backbone.encode(sample.inputs)
        seconds = time.perf_counter() - loaded
        for name, est in ests:
            t0 = time.perf_counter()
            score = float(est.score(features=encoded.features, labels=sample.labels, probs=encoded.probs))
            out.append(ProbeScore(model, name, score, seconds + time.perf_counter() - t0, len(sample.labels),
                                  loaded - start))
    return out


def linear_probe_accuracy(features: np.ndarray, labels: np.ndarray, *, folds: int = 5, seed: int = 0) -> float:
    """Mean accuracy of an L2-regularised logistic regression on standardised frozen features,
    over ``folds`` stratified folds (seeded): what fine-tuning only the head would reach."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = np.asarray(labels)
    k = int(min(folds, np.unique(y, return_counts=True)[1].min()))
    if k < 2:
        raise InputError("a linear probe needs at least 2 examples of every class")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(clf, np.asarray(features, dtype=np.float64), y, cv=cv)))


def zoo_candidates(history: Any, top: int, *, normalization: str = "zscore") -> tuple[list[str], list[str]]:
    """The ``top`` best models of a zoo's history (mean normalised score over its tasks, the
    static ranking) that can be probed here, and the better-ranked ones skipped for want of
    local weights."""
    from fennec_core.history.normalize import TaskNormalizer

    if top < 1:
        raise InputError(f"--top must be at least 1, got {top}")
    z = TaskNormalizer.fit_history(history, normalization).transform_cells(history.cols, history.values)
    m = len(history.model_ids)
    counts = np.bincount(history.rows, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, np.bincount(history.rows, weights=z, minlength=m) / counts, np.nan)
    order = sorted(range(len(history.model_ids)), key=lambda i: (-np.nan_to_num(means[i], nan=-np.inf), i))
    return first_probeable([history.model_ids[i] for i in order], top)


def first_probeable(order: Sequence[str], top: int) -> tuple[list[str], list[str]]:
    """The first ``top`` models of ``order`` that can be probed here (a backbone with local
    weights), and the better-placed ones skipped for want of them."""
    chosen: list[str] = []
    skipped: list[str] = []
    for model in order:
        if weights_missing(model) is None:
            chosen.append(model)
            if len(chosen) == top:
                break
        else:
            skipped.append(model)
    return chosen, skipped


def rank_probing(engine: Any, request: Any, sample: ProbeSample, *, top_n: int = 3, estimator: str = "logme",
                 allow_download: bool = False, progress: Callable[[Iterable[str]], Iterable[str]] | None = None,
                 **options: Any) -> tuple[Any, list[ProbeScore], list[str]]:
    """The two-stage loop: rank ``request`` (a :class:`fennec_core.task.request.TaskRequest`) from
    what it says, probe the first ``top_n`` models of that ranking that have local weights on the
    labelled ``sample`` with ``estimator``, then rank again with those scores fused beside the
    request's own probes. Returns (the fused Ranking, the probe scores, the better-ranked models
    skipped for want of local weights). ``options``: as ``Fennec.rank`` (``top``, ``where``, ...)."""
    import attrs

    from fennec_core.scoring.probes import MIN_MODELS

    if top_n < MIN_MODELS:
        raise InputError(f"probe top N must be at least {MIN_MODELS} (a probe's scores are read relative to each "
                         f"other), got {top_n}")
    zoo = engine.check_is_fitted()  # an estimator the zoo cannot fold in fails before minutes of probing
    own_probe = zoo.history.has_task(estimator) and bool(zoo.task_card(estimator).meta.get("probe", 0.0))
    if estimator not in (zoo.probe_mapping.fits if zoo.probe_mapping is not None else {}) and not own_probe:
        raise InputError(f"estimator {estimator!r} has no probe mapping in this zoo; fit one with `fennec fit --probes "
                         "PT.csv` (model,task,estimator,score on the history's tasks), or choose a mapped estimator")
    first = engine.rank(request, **{**options, "top": None})
    chosen, skipped = first_probeable(first.model_ids, top_n)
    if len(chosen) < MIN_MODELS:
        raise InputError(f"{len(chosen)} of the zoo's {len(first.model_ids)} ranked models have a backbone with local "
                         f"weights to probe, fewer than {MIN_MODELS}; `fennec plugins` lists backbones (install the "
                         "weights extra, or a plugin that adds yours)")
    scores = probe_models(chosen, sample, estimators=[estimator], allow_download=allow_download, progress=progress)
    probes = {m: dict(v) for m, v in (request.probes or {}).items()}
    for s in scores:
        probes.setdefault(s.model, {})[s.estimator] = s.score
    return engine.rank(attrs.evolve(request, probes=probes), **options), scores, skipped
