"""Checking a store's manifest before anything is built from it, and its checksum.

A store is untrusted data: every field the engine reads is checked for its type and range here
(an object where an object belongs, whole numbers in range, finite numbers, array names that are
plain paths inside the store, a history layout that matches the schema version), so a damaged
or hostile manifest is one :class:`~fennec_core.errors.StoreError` naming the field, never an
internal error or a silently absurd ranking. :func:`manifest_digest` is the SHA-256 of the
manifest's canonical JSON, written with the manifest and verified when read: it catches a manifest
edited by hand or damaged, as the arrays' checksums do for the arrays (it is no signature: whoever
can write a store can recompute it, which is why the checks above do not rely on it).
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
from collections.abc import Callable
from typing import Any

from fennec_core.errors import StoreError

#: Largest class count or training-set size a task card may state.
MAX_COUNT = 10**12
#: Array names: plain relative paths (no ``..``, no absolute path, no odd characters).
_ARRAY_NAME = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")
#: The history arrays each schema version holds.
LAYOUTS = {1: ("history/scores", "history/mask"), 2: ("history/rows", "history/cols", "history/values")}


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of ``manifest``'s canonical JSON (sorted keys, no spaces), ``manifest_digest`` left out."""
    body = {k: v for k, v in manifest.items() if k != "manifest_digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _failer(path: str) -> Callable[[str, str], StoreError]:
    def fail(field: str, why: str) -> StoreError:
        return StoreError(f"{path}: its manifest's {field} {why}; the store is damaged or was not written by "
                          "Fennec: refit with `fennec fit`")

    return fail


def validate_manifest(path: str, man: dict[str, Any]) -> None:
    """Refuse a store manifest (any store :func:`fennec_core.io.store.read_store` reads) whose
    checksum fails, whose array names are not plain paths inside the store or whose shapes are
    malformed: before any array is opened."""
    fail = _failer(path)
    digest = man.get("manifest_digest")
    if digest is not None and digest != manifest_digest(man):
        raise StoreError(f"{path}: its manifest fails its checksum (it was edited or damaged after it was "
                         "written); refit with `fennec fit`")
    arrays = _obj(man.get("arrays"), "arrays", fail)
    for name, digest in arrays.items():
        if not _ARRAY_NAME.fullmatch(name) or ".." in name.split("/"):
            raise fail("arrays", f"names {name!r}, not a plain path inside the store")
        if not isinstance(digest, str):
            raise fail(f"arrays.{name}", "must be a checksum string")
    for name, doc in (_obj(man.get("shapes"), "shapes", fail, optional=True) or {}).items():
        doc = _obj(doc, f"shapes.{name}", fail)
        shape = doc.get("shape")
        if not isinstance(shape, list) or not all(_whole(x, 0) for x in shape):
            raise fail(f"shapes.{name}.shape", "must be a list of whole numbers")


def validate_zoo_manifest(path: str, man: dict[str, Any]) -> None:
    """Refuse a zoo manifest whose fields the engine could not use as they are (one StoreError
    naming the field and ``path``): nothing is built from a manifest before it passes."""
    fail = _failer(path)
    _check_layout(man, fail)
    mids, tids = _id_list(man, "model_ids", fail), _id_list(man, "task_ids", fail)
    models = _obj(man.get("models"), "models", fail)
    arch = models.get("architecture")
    if not isinstance(arch, list) or len(arch) != len(mids) or not all(a is None or isinstance(a, str) for a in arch):
        raise fail("models.architecture", "must list one reference (a string or null) per model")
    names = models.get("feature_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise fail("models.feature_names", "must be a list of strings")
    tasks = man.get("tasks")
    if not isinstance(tasks, list):
        raise fail("tasks", "must be a list of task cards")
    seen: set[str] = set()
    for i, task in enumerate(tasks):
        _check_task(_obj(task, f"tasks[{i}]", fail), i, seen, fail)
    missing = [t for t in tids if t not in seen]
    if missing:
        raise fail("tasks", f"has no card for task {missing[0]!r}")
    comps = _obj(man.get("components"), "components", fail)
    for comp in ("factorizer", "score_merger"):
        doc = _obj(comps.get(comp), f"components.{comp}", fail)
        _name(doc.get("name"), f"components.{comp}.name", fail)
        _obj(doc.get("config"), f"components.{comp}.config", fail)
    _obj(comps["score_merger"].get("state"), "components.score_merger.state", fail, optional=True)
    _check_settings(_obj(man.get("settings"), "settings", fail), fail)
    ranker = _obj(man.get("ranker"), "ranker", fail, optional=True)
    if ranker:
        _name(ranker.get("name"), "ranker.name", fail)
        _obj(ranker.get("config"), "ranker.config", fail, optional=True)
        _obj(ranker.get("attributes"), "ranker.attributes", fail, optional=True)
    for name, doc in (_obj(man.get("rankers"), "rankers", fail, optional=True) or {}).items():
        doc = _obj(doc, f"rankers.{name}", fail)
        _obj(doc.get("config"), f"rankers.{name}.config", fail)
        _obj(doc.get("attributes"), f"rankers.{name}.attributes", fail, optional=True)
    for key in ("k_selection", "factors_info", "meta_model", "archi", "task_embeddings"):
        _obj(man.get(key), key, fail, optional=True)
    predicted = man.get("predicted_models")
    if predicted is not None and (not isinstance(predicted, list) or not set(predicted) <= set(mids)):
        raise fail("predicted_models", "must list models of the zoo")


def _check_layout(man: dict[str, Any], fail: Callable[[str, str], StoreError]) -> None:
    """The history is stored as the schema version says (schema 1: dense, schema 2: cells)."""
    arrays = man.get("arrays") or {}
    version = man.get("schema_version")
    want = LAYOUTS.get(version, ())
    other = [a for v, names in LAYOUTS.items() if v != version for a in names]
    if not all(a in arrays for a in want) or any(a in arrays for a in other):
        raise fail("schema_version", f"says {version} but the history is stored as in another schema "
                                     f"(schema {version} holds {', '.join(want)})")


def _check_task(task: dict[str, Any], i: int, seen: set[str], fail: Callable[[str, str], StoreError]) -> None:
    tid = task.get("id")
    if not isinstance(tid, str) or not tid or tid in seen:
        raise fail(f"tasks[{i}].id", "must be a task id (a non-empty string, listed once)")
    seen.add(tid)
    for key in ("num_classes", "train_size"):
        value = task.get(key)
        if value is not None and not _whole(value, 1, MAX_COUNT):
            raise fail(f"tasks[{i}].{key}", f"must be a whole number from 1 to {MAX_COUNT:.0e} or null, got "
                                            f"{str(value)[:20]}")
    if task.get("description") is not None and not isinstance(task["description"], str):
        raise fail(f"tasks[{i}].description", "must be a string or null")
    meta = task.get("meta")
    if not isinstance(meta, dict) or not all(_finite(v) for v in meta.values()):
        raise fail(f"tasks[{i}].meta", "must map names to finite numbers")


def _check_settings(settings: dict[str, Any], fail: Callable[[str, str], StoreError]) -> None:
    for key in ("normalization",):
        _name(settings.get(key), f"settings.{key}", fail)
    if not isinstance(settings.get("use_meta"), bool):
        raise fail("settings.use_meta", "must be true or false")
    if not _whole(settings.get("seed"), 0):
        raise fail("settings.seed", "must be a whole number >= 0")
    warm = settings.get("warm_strength", "auto")
    if warm != "auto" and not (_finite(warm) and warm >= 0):
        raise fail("settings.warm_strength", "must be auto or a finite number >= 0")
    resolved = settings.get("resolved_warm_strength")
    if resolved is not None and not (_finite(resolved) and resolved >= 0):
        raise fail("settings.resolved_warm_strength", "must be a finite number >= 0 or null")


def _obj(value: Any, field: str, fail: Callable[[str, str], StoreError], *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise fail(field, f"must be an object, got {type(value).__name__}")
    return value


def _name(value: Any, field: str, fail: Callable[[str, str], StoreError]) -> None:
    if not isinstance(value, str) or not value:
        raise fail(field, "must be a non-empty string")


def _id_list(man: dict[str, Any], field: str, fail: Callable[[str, str], StoreError]) -> list[str]:
    ids = man.get(field)
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != len(ids):
        raise fail(field, "must be a list of distinct non-empty strings")
    return ids


def _whole(value: Any, low: int, high: int | None = None) -> bool:
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low
            and (high is None or value <= high))


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
