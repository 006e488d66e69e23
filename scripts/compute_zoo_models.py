"""Compute the architecture data of the bundled 105-model zoo from the real pytorchcv architectures.

Writes ``fennec_core/data/zoo105_models.csv`` (``model,architecture`` plus the meta features
of :func:`fennec_core.architecture.features.describe_model`: log10 parameter count, conv + linear layers,
depth, log10 FLOPs, nominal input size) and the archi2vec features (the first 4 principal
components of the ``dgl-gin`` vectors, contrastive: the encoder that predicts new models best
in ``benchmarks/bench_graph_encoders.py``), and ``fennec_core/data/zoo105_archi.json.gz``: the
encoding (the 105 graphs, their vectors, the PCA, the GIN weights; JSON, no pickle) that
``python -m fennec_core.bundled_zoo`` puts in the store so ``fennec add-model`` on the bundled zoo
encodes new architectures in the same basis.
No weights are downloaded: models are built on the meta device. Captures are cached in
``$FENNEC_CACHE_DIR`` (``~/.cache/fennec``); ``--no-cache`` captures again.

Needs pytorchcv and dgl==1.1.3; pytorchcv imports torchvision (``pip install torch==2.14.1 torchvision==0.29.1
pytorchcv`` on this machine). Run: ``python scripts/compute_zoo_models.py``.
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from pathlib import Path

from fennec_core.architecture.encoding import describe_architecture, encode_graphs
from fennec_core.architecture.graph_io import ArchCache

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "fennec_core" / "data"
COLUMNS = ["log10_params", "conv_linear_layers", "depth", "log10_flops", "input_size"]
ENCODER, DIMS = "dgl-gin", 4


def main() -> int:
    with open(DATA / "zoo105_history.csv", newline="") as fh:
        names = list(dict.fromkeys(row["model"] for row in csv.DictReader(fh)))
    cache = None if "--no-cache" in sys.argv else ArchCache()
    rows, graphs = [], []
    for name in names:
        graph, feats = describe_architecture(f"pytorchcv:{name}", name, cache=cache)
        graphs.append(graph)
        rows.append([name, f"pytorchcv:{name}"] + [f"{feats[c]:.6f}" if "log10" in c else int(feats[c])
                                                   for c in COLUMNS])
        print(name, *rows[-1][2:], file=sys.stderr)
    extra, encoding = encode_graphs(graphs, encoder=ENCODER, dims=DIMS)
    arch_cols = list(extra[0])
    with open(DATA / "zoo105_models.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "architecture", *COLUMNS, *arch_cols])
        w.writerows(row + [repr(e[c]) for c in arch_cols] for row, e in zip(rows, extra, strict=True))
    with gzip.GzipFile(DATA / "zoo105_archi.json.gz", "wb", mtime=0) as fh:
        fh.write(json.dumps(encoding.to_document(), separators=(",", ":")).encode())
    print(f"wrote {DATA / 'zoo105_models.csv'} and zoo105_archi.json.gz ({len(rows)} models, {ENCODER})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
