"""The bundled zoo: the paper's 105 pytorchcv models x 7 targets, shipped as a fitted store.

Data: fine-tuning accuracies from the official Fennec code (Fay-why/Fennec,
``fennec/oracles/large.csv``, arXiv 2403.06382), converted to ``data/zoo105_history.csv``;
model meta features and archi2vec features computed from the real pytorchcv architectures
by ``scripts/compute_zoo_models.py`` (``zoo105_models.csv``, and ``zoo105_archi.json.gz``: the
graphs, vectors, PCA and encoder weights, so new models are encoded in the same basis); task
class counts from the same repository.

Rebuild the store (deterministic) with ``python -m fennec_core.io.bundled``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DATA = "data"
STORE_NAME = "bundled_zoo.zarr"


def data_path(name: str) -> str:
    """Path of a data file shipped in the package (e.g. ``zoo105_history.csv``)."""
    return str(resources.files("fennec_core") / DATA / name)


def bundled_zoo_path() -> str:
    """Path of the bundled, fitted zoo store."""
    return data_path(STORE_NAME)


def load_bundled(device: str = "auto"):  # -> Fennec (lazy import keeps this module light)
    """Load the bundled zoo."""
    from fennec_core.engine import Fennec

    return Fennec.load(bundled_zoo_path(), device=device)


def load_archi_encoding():  # -> ArchiEncoding
    """The archi2vec encoding of the 105 bundled architectures (graphs, vectors, PCA, weights)."""
    import gzip
    import json

    from fennec_core.architecture.encoding import ArchiEncoding

    with gzip.open(data_path("zoo105_archi.json.gz"), "rt") as fh:
        return ArchiEncoding.from_document(json.load(fh))


def build(out: str | None = None):
    """Fit the bundled zoo from its CSVs with default settings and save it to ``out``.

    The zoo also holds a trained Model Spider (``rank --ranker model-spider``): its task tokens
    are the text proxy's embeddings of the 7 task descriptions (all-MiniLM-L6-v2, which the
    proxies extra installs), kept in the zoo as its task embeddings.
    """
    from fennec_core.engine import Fennec
    from fennec_core.io.tables import read_tasks
    from fennec_core.task.proxies import make_proxy, proxy_spec

    text = make_proxy("text", {"device": "cpu"})
    described = {t.id: t.description for t in read_tasks(data_path("zoo105_tasks.csv"))}
    engine = Fennec(device="cpu").fit(
        data_path("zoo105_history.csv"), data_path("zoo105_models.csv"), data_path("zoo105_tasks.csv"),
        archi=load_archi_encoding(), task_embeddings={t: text.embed(d) for t, d in described.items()},
        proxy=proxy_spec(text, "text", {}),
    )
    engine.add_ranker("model-spider")
    engine.save(out or bundled_zoo_path())
    return engine


if __name__ == "__main__":
    target = str(Path(__file__).parents[1] / DATA / STORE_NAME)  # the source tree's fennec_core/data
    build(target)
    print(f"wrote {target}")
