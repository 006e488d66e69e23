"""The catalog of zoos shipped inside the package, and the one way a ``--zoo`` is resolved.

Each bundled zoo is a fitted store under ``fennec_core/data`` built by one script from public
results (the ``build`` field names it). ``--zoo NAME`` picks a bundled zoo by name,
``--zoo PATH`` any store. A bundled zoo is never rewritten in place: commands that change a zoo
write the changed copy to ``--out`` (:func:`check_writable`).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from fennec_core.errors import InputError


@attrs.frozen
class BundledZoo:
    """One zoo shipped with Fennec: where its store is and where its data comes from."""

    name: str
    store: str  #: path of the fitted store under ``fennec_core/data``
    title: str
    source: str
    licence: str
    credit: str
    build: str  #: the command that rebuilds it from the raw files

    @property
    def path(self) -> str:
        """Absolute path of the store inside the installed package."""
        return str(resources.files("fennec_core") / "data" / self.store)


ZOOS: tuple[BundledZoo, ...] = (
    BundledZoo(
        "pytorchcv105", "bundled_zoo.zarr",
        "105 pytorchcv image models x 7 image classification targets (the Fennec paper's benchmark)",
        "Fay-why/Fennec, fennec/oracles/large.csv (official code of arXiv 2403.06382)",
        "as published with the Fennec code", "Fennec, arXiv 2403.06382 (fine-tuning results of its benchmark)", "python -m fennec_core.bundled_zoo"),
    BundledZoo(
        "hf-nlp", "nlp/zoo.zarr",
        "2,696 Hugging Face checkpoints (6 base models) x 36 English classification targets + an MNLI linear probe",
        "IBM/model-recycling, results/models_tested.csv (commit 1c1d4228)", "Apache-2.0",
        "Choshen et al., \"Where to start? Analyzing the potential value of intermediate models\", arXiv 2211.00107",
        "python scripts/zoos/build_nlp_zoo.py"),
    BundledZoo(
        "timm", "timm/zoo.zarr",
        "1,556 timm image models (pretrained tags) x 6 ImageNet evaluation sets",
        "huggingface/pytorch-image-models, results/ (commit aa4b5850)", "Apache-2.0",
        "Ross Wightman, PyTorch Image Models (timm)", "python scripts/zoos/build_timm_zoo.py"),
    BundledZoo(
        "mteb", "mteb/zoo.zarr",
        "673 embedding models x 1,545 MTEB tasks (retrieval, classification, clustering, STS, ... in many languages)",
        "embeddings-benchmark/results, results/<model>/<revision>/<task>.json (commit f4cc6c8), scored by the mteb "
        "package", "CC0-1.0",
        "Muennighoff et al., \"MTEB: Massive Text Embedding Benchmark\", arXiv 2210.07316; Enevoldsen et al., "
        "\"MMTEB\", arXiv 2502.13595", "python scripts/zoos/build_mteb_zoo.py"),
    BundledZoo(
        "openclip", "openclip/zoo.zarr",
        "121 OpenCLIP models (architecture:pretrained) x 38 zero-shot evaluation sets (the DataComp suite)",
        "mlfoundations/open_clip, docs/openclip_results.csv + docs/model_profile.csv (commit 89fb801)",
        "MIT-style (open_clip LICENSE)",
        "Ilharco et al., OpenCLIP (zenodo 5143773); Gadre et al., \"DataComp\", arXiv 2304.14108",
        "python scripts/zoos/build_openclip_zoo.py"),
)

#: The zoo a command uses when no ``--zoo`` is given.
DEFAULT_ZOO = "pytorchcv105"


def names() -> list[str]:
    """Names of the bundled zoos whose stores are present in this installation."""
    return [z.name for z in ZOOS if Path(z.path).is_dir()]


def get(name: str) -> BundledZoo:
    """The bundled zoo called ``name``; an InputError listing the names otherwise."""
    for z in ZOOS:
        if z.name == name:
            if not Path(z.path).is_dir():
                raise InputError(f"bundled zoo {name!r} is not in this installation ({z.path} is missing); "
                                 f"rebuild it with `{z.build}`")
            return z
    raise InputError(f"no bundled zoo called {name!r}; bundled zoos: {', '.join(names())} (see `fennec zoos`)")


def resolve(ref: str | os.PathLike[str] | None) -> str:
    """The store path for ``--zoo``: a bundled zoo's name, a path or URL, or None for the default."""
    if ref is None:
        return get(DEFAULT_ZOO).path
    text = os.fspath(ref)
    if any(z.name == text for z in ZOOS) and not Path(text).exists():
        return get(text).path
    if "://" not in text and not Path(text).exists() and "/" not in text and not text.endswith(".zarr"):
        raise InputError(f"--zoo {text}: neither a bundled zoo ({', '.join(names())}) nor an existing store path; "
                         "see `fennec zoos`")
    return text


def bundled_entry(path: str | os.PathLike[str]) -> BundledZoo | None:
    """The bundled zoo stored at ``path``, or None when ``path`` is not one of them."""
    from fennec_core.io.store import local_path

    try:
        local = local_path(path)
        if local is None:
            return None
        target = local.resolve()
    except (OSError, ValueError):
        return None
    for z in ZOOS:
        if Path(z.path).resolve() == target:
            return z
    return None


def check_writable(path: str | os.PathLike[str], flag: str = "--zoo") -> None:
    """Refuse to rewrite a bundled zoo in place (it belongs to the installed package)."""
    z = bundled_entry(path)
    if z is not None and flag == "--out":
        raise InputError(f"--out {path}: that is the bundled zoo {z.name!r} inside the installed package, which is "
                         "never overwritten; give another path")
    if z is not None:
        raise InputError(f"{flag} {z.name}: a bundled zoo is never changed in place; give --out PATH to write the "
                         "changed zoo to a new store")


def summary(z: BundledZoo) -> dict[str, Any]:
    """A bundled zoo's catalog entry with its counts read from the store (models, tasks, observed cells)."""
    from fennec_core.io.store import read_store

    arrays, manifest = read_store(z.path)
    observed = int(arrays["history/values"].size if "history/values" in arrays else arrays["history/mask"].sum())
    n_models, n_tasks = len(manifest["model_ids"]), len(manifest["task_ids"])
    predicted = len(manifest.get("predicted_models") or [])
    return {"name": z.name, "title": z.title, "models": n_models, "tasks": n_tasks, "observed": observed,
            "models_without_history": predicted, "source": z.source, "licence": z.licence, "credit": z.credit,
            "build": z.build, "default": z.name == DEFAULT_ZOO, "path": z.path}
