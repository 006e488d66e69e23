"""Re-embed the bundled zoos' task descriptions with the text proxy's default backend.

A zoo keeps its tasks' description embeddings and the spec of the proxy that made them
(``proxy/embeddings`` in the store); ``rank --describe`` uses them only when the proxy that
embeds the new description has the same spec, otherwise it re-embeds every description on
each call. This script replaces the stored embeddings of each bundled zoo by the default text
proxy's (ONNX Runtime MiniLM) and records that proxy's spec, in place: only the embeddings
array and the manifest's lines about it change (the stores are under version control; the
change is not atomic). Nothing else of the zoo is refitted: the embeddings are the same
model's, equal to the previous ones within float32 rounding, and the script prints the
largest difference.

    python scripts/reembed_zoo_descriptions.py [pytorchcv105 hf-nlp timm mteb openclip]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STORES = {"pytorchcv105": ROOT / "fennec_core" / "data" / "bundled_zoo.zarr",
          "hf-nlp": ROOT / "fennec_core" / "data" / "nlp" / "zoo.zarr",
          "timm": ROOT / "fennec_core" / "data" / "timm" / "zoo.zarr",
          "mteb": ROOT / "fennec_core" / "data" / "mteb" / "zoo.zarr",
          "openclip": ROOT / "fennec_core" / "data" / "openclip" / "zoo.zarr"}


def reembed(path: Path, text_of: Callable[[Any], str] | None = None) -> tuple[int, float, dict]:
    """Re-embed the described tasks of the store at ``path``: (tasks, largest |new - old|, new spec).
    ``text_of``: what was embedded for a task card (default its description; the mteb zoo
    embeds ``type. languages. domains. description``, its build script's ``embedding_text``).

    Only the ``proxy/embeddings`` array and the manifest's entries about it change (its digest,
    the per-task SHA-256s, the proxy spec, a new generation); every other array of the store
    is left byte for byte as it is, whatever schema version wrote it.
    """
    import uuid

    import zarr

    from fennec_core import Fennec
    from fennec_core.io.manifest import manifest_digest
    from fennec_core.io.store import array_digest
    from fennec_core.task.embeddings import pack_embeddings
    from fennec_core.task.proxies import described_tasks, make_proxy, proxy_spec

    zoo = Fennec.load(path, device="cpu").zoo_
    if (zoo.proxy or {}).get("name") != "text":
        raise SystemExit(f"{path}: its task embeddings are not the text proxy's ({zoo.proxy})")
    root = zarr.open_group(str(path), mode="r+")
    manifest = dict(root.attrs["fennec"])
    ids = list(manifest["task_embeddings"]["task_ids"])
    described = described_tasks(zoo) if text_of is None else {t: text_of(zoo.tasks[t]) for t in ids}
    if set(described) != set(ids) or any(len(np.atleast_2d(zoo.task_embeddings[t])) != 1 for t in ids):
        raise SystemExit(f"{path}: the stored embeddings are not one row per described task")
    text = make_proxy("text", {"device": "cpu"})
    emb = text.embed([described[t] for t in ids])
    new = {t: emb[i:i + 1] for i, t in enumerate(ids)}
    diff = max(float(np.abs(np.atleast_2d(zoo.task_embeddings[t]) - new[t]).max()) for t in ids)
    packed, meta = pack_embeddings(new)
    stored = root["proxy/embeddings"]
    if stored.shape != packed.shape or stored.dtype != packed.dtype:
        raise SystemExit(f"{path}: proxy/embeddings is {stored.shape} {stored.dtype}, new {packed.shape} {packed.dtype}")
    stored[...] = packed
    spec = proxy_spec(text, "text", {})
    manifest["task_embeddings"] = {**manifest["task_embeddings"], **meta, "proxy": spec}
    manifest["arrays"] = {**manifest["arrays"], "proxy/embeddings": array_digest(packed)}
    manifest["generation"] = uuid.uuid4().hex
    if "manifest_digest" in manifest:  # a store written with a manifest checksum keeps a valid one
        manifest["manifest_digest"] = manifest_digest(manifest)
    root.attrs["fennec"] = manifest  # written last, as the store's own writer does
    check = Fennec.load(path, device="cpu").zoo_  # reads back and verifies every checksum
    assert all(np.array_equal(check.task_embeddings[t], new[t]) for t in ids)
    return len(ids), diff, spec


#: Zoos whose build embedded more than the description: the build script whose ``embedding_text``
#: made their task texts (the openclip build shares the mteb build's embed step).
EMBEDDING_TEXT = {"mteb": "build_mteb_zoo", "openclip": "build_mteb_zoo"}


def _build_text(name: str) -> Callable[[Any], str] | None:
    """The ``embedding_text`` of the build script that embedded zoo ``name``'s tasks, or None
    (the description alone)."""
    if name not in EMBEDDING_TEXT:
        return None
    script = ROOT / "scripts" / "zoos" / f"{EMBEDDING_TEXT[name]}.py"
    sys.path.insert(0, str(script.parent))  # the build scripts import their shared helpers
    spec = importlib.util.spec_from_file_location(EMBEDDING_TEXT[name], script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.embedding_text


def main(argv: list[str] | None = None) -> int:
    """Command line: re-embed the named zoos (default all) and print one line each."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("zoos", nargs="*", help=f"which zoos (default all: {', '.join(STORES)})")
    args = p.parse_args(argv)
    unknown = sorted(set(args.zoos) - set(STORES))
    if unknown:
        p.error(f"unknown zoo(s) {', '.join(unknown)}; choose from {', '.join(STORES)}")
    for name in args.zoos or list(STORES):
        n, diff, spec = reembed(STORES[name], _build_text(name))
        print(f"{name}: {n} descriptions re-embedded ({spec['config']['backend']}); largest change {diff:.2e}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
