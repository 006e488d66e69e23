"""With versus without architecture features on PARC and Model Spider (leave one task out).

Their tables name torchvision architectures, so each model gets the reference
``py:torchvision.models:<arch>`` (PARC's models are ``<arch>/<source dataset>``: the
architecture is the part before the slash). Rows: the static baseline, Fennec with no model
features, with the five architecture meta features (log10 params, conv+linear, depth, log10
FLOPs, input size), and with those plus archi2vec (dgl-gin, contrastive, first principal
components). Run (needs torchvision and dgl; about 1 min):

    python benchmarks/archi_tables.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import DATA, PUBLISHED  # noqa: E402

from fennec_core import Fennec  # noqa: E402
from fennec_core.architecture.encoding import fit_architectures  # noqa: E402
from fennec_core.architecture.graph_io import ArchCache  # noqa: E402
from fennec_core.evaluation import evaluate  # noqa: E402
from fennec_core.io.tables import convert_table  # noqa: E402
from fennec_core.records import ModelCard  # noqa: E402


def main() -> None:
    print("| table | models (archs) | static | no model features | + arch meta (5) | + arch meta + archi2vec |")
    print("|---|---|---|---|---|---|")
    for name in ("parc", "modelspider"):
        fname, kwargs = PUBLISHED[name]
        h = convert_table(DATA / fname, **kwargs)
        cards = [ModelCard(m, f"py:torchvision.models:{m.split('/')[0]}") for m in h.model_ids]
        archs = {c.architecture for c in cards}
        with_vec, _ = fit_architectures(cards, encoder="dgl-gin", dims=min(4, len(archs) - 1), cache=ArchCache())
        meta_only = [ModelCard(c.id, c.architecture, {k: v for k, v in c.meta.items() if not k.startswith("arch_")})
                     for c in with_vec]
        cells = []
        for models in (None, meta_only, with_vec):
            r = evaluate(Fennec(device="cpu"), h, protocol="loo", models=models)
            cells.append(r.mean()["weighted_tau"])
        static = r.mean("static")["weighted_tau"]
        print(f"| {name} | {len(h.model_ids)} ({len(archs)}) | {static:.3f} | "
              + " | ".join(f"{c:.3f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
