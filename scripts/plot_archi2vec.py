"""Plot the archi2vec (graph2vec) vectors of the bundled zoo's 105 architectures in 2-D.

Captures every pytorchcv architecture on the meta device (no weights), fits graph2vec with the
paper's settings, projects the 128-d vectors to 2-D with PCA, and colours points by family
(the model name up to its first digit or underscore). Writes docs/archi2vec.png. Run:

    python scripts/plot_archi2vec.py        # needs the archi extra and matplotlib
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def family(name: str) -> str:
    """A coarse family label: the name's leading letters (resnet50 -> resnet, vgg16 -> vgg)."""
    match = re.match(r"[a-z]+", name)
    return match.group(0) if match else name


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pytorchcv.model_provider import get_model
    from sklearn.decomposition import PCA

    from fennec_core import registry
    from fennec_core.architecture.graph import capture
    from fennec_core.architecture.sources import input_size
    from fennec_core.io.bundled import data_path

    with open(data_path("zoo105_models.csv"), newline="") as fh:
        names = [row["model"] for row in csv.DictReader(fh)]
    graphs = []
    for n in names:
        with torch.device("meta"):
            net = get_model(n, pretrained=False)
        s = input_size(net)
        graphs.append(capture(net, (1, 3, s, s), model_id=n))
    emb = registry.create("graph_encoder", "graph2vec").fit(graphs).transform(graphs)
    xy = PCA(n_components=2, random_state=0).fit_transform(emb)
    fams = [family(n) for n in names]
    counts = {f: fams.count(f) for f in set(fams)}
    shown = sorted(f for f, c in counts.items() if c >= 3)
    cmap = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(10, 7))
    for k, f in enumerate(shown):
        idx = [i for i, g in enumerate(fams) if g == f]
        ax.scatter(xy[idx, 0], xy[idx, 1], s=30, color=cmap(k % 20), label=f"{f} ({len(idx)})")
    other = [i for i, g in enumerate(fams) if g not in shown]
    ax.scatter(xy[other, 0], xy[other, 1], s=18, color="lightgrey", label=f"other ({len(other)})")
    for i in other:
        ax.annotate(names[i], xy[i], fontsize=6, color="grey")
    ax.set_title("archi2vec (graph2vec, 128-d -> PCA 2-D) of the 105 pytorchcv benchmark architectures")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=7, ncol=2, loc="best")
    fig.tight_layout()
    out = ROOT / "docs" / "archi2vec.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
