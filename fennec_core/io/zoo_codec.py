"""The one codec between a :class:`fennec_core.zoo.FittedZoo` (plus the engine's settings) and
the store's arrays and JSON manifest. :func:`encode` and :func:`decode` are inverses; each part
of the record is written and read by the pair of functions next to each other below, so the
schema lives in one place (docs/store.md describes it).

Loading fits nothing: merger and ranker state, the resolved warm-start strength and the
chosen ``k`` are all stored. Only arrays and JSON are stored (no pickle).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from fennec_core import __version__
from fennec_core.errors import FennecError, InputError, StoreError
from fennec_core.history.normalize import TaskNormalizer
from fennec_core.records import Factors, History, ModelCard, TaskCard
from fennec_core.zoo import ComponentState, FittedZoo, StoredModelCards, TrainedRanker


def _section(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays under ``prefix/``, with the prefix removed."""
    return {k.removeprefix(prefix + "/"): v for k, v in arrays.items() if k.startswith(prefix + "/")}


def _prefixed(prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}/{k}": np.asarray(v) for k, v in arrays.items()}


def _encode_state(state: ComponentState | None, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
    if state is None:
        return {}, None
    return _prefixed(prefix, state.arrays), state.attributes


def _decode_state(arrays: Mapping[str, np.ndarray], attributes: Any, prefix: str) -> ComponentState | None:
    if attributes is None:
        return None
    return ComponentState(_section(arrays, prefix), attributes)


def encode_history(hist: History) -> dict[str, np.ndarray]:
    """The history's observed cells only (schema 2 on): rows and columns as the smallest
    unsigned ints that hold them, scores as float64 -- 16 bytes a cell or less, whatever the
    number of models x tasks."""
    def index(a: np.ndarray, size: int) -> np.ndarray:
        return a.astype(np.uint16 if size <= 1 << 16 else np.uint32 if size <= 1 << 32 else np.uint64)

    m, n = hist.shape
    return {"history/rows": index(hist.rows, m), "history/cols": index(hist.cols, n),
            "history/values": hist.values}


def decode_history(arrays: Mapping[str, np.ndarray], model_ids: list[str], task_ids: list[str]) -> History:
    """The history of a store: its cells, or (schema 1 stores) a dense matrix and mask."""
    if "history/values" in arrays:
        return History.from_cells(model_ids, task_ids, arrays["history/rows"], arrays["history/cols"],
                                  arrays["history/values"])  # from_cells widens the indices to int64
    return History(model_ids, task_ids, arrays["history/scores"], arrays["history/mask"].astype(bool))


def encode(zoo: FittedZoo, params: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays, manifest) of a fitted zoo and the engine parameters that made it."""
    from fennec_core.task.embeddings import pack_embeddings

    hist, factors = zoo.history, zoo.factors
    mnames = zoo.model_feature_names()
    arrays: dict[str, np.ndarray] = {
        **encode_history(hist),
        "factors/U": factors.U,
        "factors/V": factors.V,
        "normalization/offset": zoo.normalizer.offset,
        "normalization/scale": zoo.normalizer.scale,
        "models/features": zoo.model_features(mnames),
        **_prefixed("factors/extras", factors.extras),
    }
    if zoo.meta_model is not None:
        arrays.update(_prefixed("meta", zoo.meta_model.arrays()))
    if zoo.archi is not None:
        arrays.update(_prefixed("archi", zoo.archi.arrays()))
    merger_arrays, merger_attrs = _encode_state(zoo.merger_state, "merger")
    arrays.update(merger_arrays)
    active = zoo.rankers.get(params["ranker"])
    ranker_arrays, ranker_attrs = _encode_state(active.state if active else None, "ranker")
    arrays.update(ranker_arrays)
    others = {}  # further trained rankers: rankers/<name>/... beside the active one's ranker/...
    for name, trained in zoo.rankers.items():
        if name != params["ranker"]:
            more, attributes = _encode_state(trained.state, f"rankers/{name}")
            arrays.update(more)
            others[name] = {"config": trained.config, "attributes": attributes}
    if zoo.probe_mapping is not None:
        arrays.update(_prefixed("probes", zoo.probe_mapping.arrays()))
    proxy_manifest = None
    if zoo.task_embeddings:
        arrays["proxy/embeddings"], proxy_manifest = pack_embeddings(zoo.task_embeddings)
        proxy_manifest["proxy"] = zoo.proxy
    fcfg = dict(params["factorizer_config"])
    if zoo.k_selection is not None:
        fcfg["k"] = zoo.k_selection["k"]
    extra_tasks = [t for t in zoo.tasks if not hist.has_task(t)]
    ranker = None
    if params["ranker"] != "fennec":
        ranker = {"name": params["ranker"], "config": params["ranker_config"], "attributes": ranker_attrs or {}}
    manifest = {
        "package_version": __version__,
        "model_ids": list(hist.model_ids),
        "task_ids": list(hist.task_ids),
        "models": _models_document(zoo.models, hist.model_ids, mnames),
        "tasks": [{"id": t.id, "num_classes": t.num_classes, "train_size": t.train_size,
                   "description": t.description, "meta": t.meta, **({"attributes": t.attributes} if t.attributes else {})}
                  for t in [zoo.tasks[t] for t in (*hist.task_ids, *extra_tasks)]],
        "components": {
            "factorizer": {"name": params["factorizer"], "config": fcfg,
                           "requested_config": params["factorizer_config"]},
            "score_merger": {"name": params["score_merger"], "config": params["score_merger_config"],
                             "state": merger_attrs},
        },
        "settings": {"normalization": params["normalization"], "use_meta": params["use_meta"],
                     "seed": params["seed"], "warm_strength": params["warm_strength"],
                     "resolved_warm_strength": zoo.warm_strength, "task_mapping": params["task_mapping"]},
        "k_selection": zoo.k_selection,
        "predicted_models": list(zoo.predicted_models),
        "factors_info": factors.info,
        "meta_model": zoo.meta_model.attributes() if zoo.meta_model else None,
        "archi": zoo.archi.attributes() if zoo.archi is not None else None,
        "task_embeddings": proxy_manifest,
        "ranker": ranker,
        "rankers": others or None,
        "probe_mapping": zoo.probe_mapping.attributes() if zoo.probe_mapping is not None else None,
    }
    return arrays, manifest


def _models_document(cards: Mapping[str, ModelCard], model_ids: Sequence[str], feature_names: list[str]) -> dict[str, Any]:
    """The manifest's ``models`` entry: architectures, feature names and categorical values. A
    loaded zoo's lazy cards give theirs as columns, without making 50,000 cards to take them apart."""
    if isinstance(cards, StoredModelCards):
        architectures, attributes = cards.columns(model_ids)
        return {"architecture": architectures, "feature_names": feature_names,
                **({"attributes": attributes} if attributes else {})}
    listed = [cards[m] for m in model_ids]
    return {"architecture": [c.architecture for c in listed], "feature_names": feature_names,
            **_model_attributes(listed)}


def _model_attributes(cards: list[ModelCard]) -> dict[str, Any]:
    """The models' categorical card values as columns ``{"attributes": {name: [value or None per model]}}``
    (nothing when no model has any), so a store of many models stays one compact JSON document."""
    names = sorted({n for c in cards for n in c.attributes})
    if not names:
        return {}
    return {"attributes": {n: [c.attributes.get(n) for c in cards] for n in names}}


def decode(arrays: Mapping[str, np.ndarray], man: Mapping[str, Any],
           origin: str = "the zoo store") -> tuple[dict[str, Any], FittedZoo]:
    """(engine parameters, fitted zoo) from a store's arrays and manifest (inverse of :func:`encode`).

    The models' architecture references are marked as read from ``origin`` (the store's path):
    a ``py:`` one is never built without an explicit opt-in
    (:func:`fennec_core.architecture.sources.check_runnable`).

    Raises KeyError / TypeError / ValueError on an incomplete or inconsistent manifest; the
    engine turns those into one StoreError.
    """
    from fennec_core.architecture.sources import stored_reference
    from fennec_core.scoring.meta_score import MetaModel

    comps, settings = man["components"], man["settings"]
    ranker = man.get("ranker") or {}
    params = {
        "factorizer": comps["factorizer"]["name"],
        "score_merger": comps["score_merger"]["name"],
        "factorizer_config": comps["factorizer"]["config"],
        "score_merger_config": comps["score_merger"]["config"],
        "normalization": settings["normalization"],
        "use_meta": settings["use_meta"],
        "warm_strength": settings.get("warm_strength", "auto"),
        "seed": settings["seed"],
        "task_mapping": settings.get("task_mapping", "kernel-ridge"),
        "ranker": ranker.get("name", "fennec"),
        "ranker_config": ranker.get("config"),
    }
    mids, tids = man["model_ids"], man["task_ids"]
    fnames, feats = man["models"]["feature_names"], arrays["models/features"]
    models = StoredModelCards(mids, [stored_reference(a, origin) for a in man["models"]["architecture"]],
                              fnames, feats, man["models"].get("attributes"))  # cards made when asked for
    tasks = {t["id"]: TaskCard(t["id"], t["num_classes"], t["train_size"], t["description"], t["meta"],
                               attributes=t.get("attributes") or {})
             for t in man["tasks"]}
    meta_model = MetaModel.from_stored(_section(arrays, "meta"), man["meta_model"]) if man.get("meta_model") else None
    archi = None
    if man.get("archi"):
        from fennec_core.architecture.encoding import ArchiEncoding

        archi = ArchiEncoding.from_stored(_section(arrays, "archi"), man["archi"])
    embeddings: dict[str, np.ndarray] = {}
    proxy = None
    if man.get("task_embeddings"):
        from fennec_core.task.embeddings import unpack_embeddings

        embeddings = unpack_embeddings(arrays["proxy/embeddings"], man["task_embeddings"])
        proxy = man["task_embeddings"].get("proxy")
    warm = settings.get("resolved_warm_strength")
    zoo = FittedZoo(
        history=decode_history(arrays, mids, tids),
        models=models,
        tasks=tasks,
        normalizer=TaskNormalizer(settings["normalization"], arrays["normalization/offset"],
                                  arrays["normalization/scale"]),
        factors=Factors(arrays["factors/U"], arrays["factors/V"], _section(arrays, "factors/extras"),
                        man.get("factors_info") or {}),
        meta_model=meta_model,
        k_selection=man.get("k_selection"),
        predicted_models=man.get("predicted_models") or (),
        archi=archi,
        task_embeddings=embeddings,
        proxy=proxy,
        warm_strength=None if warm is None else float(warm),
        merger_state=_decode_state(arrays, comps["score_merger"].get("state"), "merger"),
        rankers=_decode_rankers(arrays, ranker, man.get("rankers") or {}),
        probe_mapping=_decode_probes(arrays, man.get("probe_mapping")),
    )
    return params, zoo


def _decode_probes(arrays: Mapping[str, np.ndarray], attributes: Any) -> Any:
    """The stored probe mapping (arrays ``probes/...`` and the manifest's ``probe_mapping``), or None."""
    if not attributes:
        return None
    from fennec_core.scoring.probes import ProbeMapping

    try:
        return ProbeMapping.from_stored(_section(arrays, "probes"), attributes)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StoreError(f"the store's probe mapping is damaged ({exc}); refit it with `fennec fit --probes`") from None


def _decode_rankers(arrays: Mapping[str, np.ndarray], active: Mapping[str, Any],
                    others: Mapping[str, Any]) -> dict[str, TrainedRanker]:
    """Every trained ranker of a store: the active one (``ranker``) and the further ones (``rankers``)."""
    out = {name: TrainedRanker(doc["config"], _decode_state(arrays, doc["attributes"], f"rankers/{name}")
                               or ComponentState()) for name, doc in others.items()}
    if active:
        out[active["name"]] = TrainedRanker(active.get("config") or {},
                                            _decode_state(arrays, active.get("attributes"), "ranker") or ComponentState())
    return out


def select_ranker(params: dict[str, Any], zoo: FittedZoo, ranker: str, pipeline: str = "fennec",
                  registry: Any = None) -> dict[str, Any]:
    """``params`` with ``ranker`` as the engine's ranker: ``fennec`` (the pipeline, always there) or
    a ranker the zoo holds trained (its stored config); any other is one error saying what to do."""
    from fennec_core.plugin.registry import default_registry

    if ranker == pipeline:
        return {**params, "ranker": pipeline, "ranker_config": None}
    (registry or default_registry()).get("ranker", ranker)  # a name no plugin registers: the known ones listed
    if ranker not in zoo.rankers:
        held = ", ".join([pipeline, *sorted(zoo.rankers)])
        raise InputError(f"this zoo holds no trained {ranker!r} ranker (it has: {held}); rank with one of those, "
                         f"or fit a zoo with it: `fennec fit ... --ranker {ranker}` (it needs task embeddings: "
                         "--task-images or --task-embeddings)")
    return {**params, "ranker": ranker, "ranker_config": zoo.rankers[ranker].config}


@contextlib.contextmanager
def store_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn what an incomplete or inconsistent manifest raises while a zoo is rebuilt from it
    (in :func:`decode`, or when its components are built) into one StoreError naming ``path``."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, FennecError):
            raise StoreError(f"{path}: inconsistent store ({exc}); refit with `fennec fit`") from None
        raise StoreError(f"{path}: store manifest is incomplete ({type(exc).__name__}: {exc}); "
                         "refit with `fennec fit`") from None
