"""Loading and rebuilding the bundled zoo (the paper's 105 pytorchcv models x 7 targets).

Its files and their sources are described in :mod:`fennec_core.io.bundled`; this module sits
above the engine because it loads and fits one. Rebuild the store (deterministic) with
``python -m fennec_core.bundled_zoo``.
"""

from __future__ import annotations

from pathlib import Path

from fennec_core.io.bundled import (
    DATA,
    STORE_NAME,
    bundled_zoo_path,
    data_path,
    load_archi_encoding,
)


def load_bundled(device: str = "auto"):  # -> Fennec (lazy import keeps this module light)
    """Load the bundled zoo."""
    from fennec_core.engine import Fennec

    return Fennec.load(bundled_zoo_path(), device=device)


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
    target = str(Path(__file__).parent / DATA / STORE_NAME)  # the source tree's fennec_core/data
    build(target)
    print(f"wrote {target}")
