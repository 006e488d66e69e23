"""The bundled zoo: the paper's 105 pytorchcv models x 7 targets, shipped as a fitted store.

Data: fine-tuning accuracies from the official Fennec code (Fay-why/Fennec,
``fennec/oracles/large.csv``, arXiv 2403.06382), converted to ``data/zoo105_history.csv``;
model meta features and archi2vec features computed from the real pytorchcv architectures
by ``scripts/compute_zoo_models.py`` (``zoo105_models.csv``, and ``zoo105_archi.json.gz``: the
graphs, vectors, PCA and encoder weights, so new models are encoded in the same basis); task
class counts from the same repository.

This module only says where the shipped files are; loading and rebuilding the store fit or
load an engine, a layer above, in :mod:`fennec_core.bundled_zoo` (``python -m
fennec_core.bundled_zoo`` rebuilds it, deterministically).
"""

from __future__ import annotations

from importlib import resources

DATA = "data"
STORE_NAME = "bundled_zoo.zarr"


def data_path(name: str) -> str:
    """Path of a data file shipped in the package (e.g. ``zoo105_history.csv``)."""
    return str(resources.files("fennec_core") / DATA / name)


def bundled_zoo_path() -> str:
    """Path of the bundled, fitted zoo store."""
    return data_path(STORE_NAME)


def load_archi_encoding():  # -> ArchiEncoding
    """The archi2vec encoding of the 105 bundled architectures (graphs, vectors, PCA, weights)."""
    import gzip
    import json

    from fennec_core.architecture.encoding import ArchiEncoding

    with gzip.open(data_path("zoo105_archi.json.gz"), "rt") as fh:
        return ArchiEncoding.from_document(json.load(fh))
