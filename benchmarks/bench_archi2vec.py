"""Encode the 105 pytorchcv architectures of the benchmark from scratch, timing each stage.

Stages: import pytorchcv, build every model on the meta device (no weights), capture its
architecture graph (one meta forward + autograd walk), count FLOPs (a second meta forward
under ``torch.utils.flop_counter``), fit graph2vec (the paper's settings). Target for
"encoding" (build + capture + graph2vec): under 30 s on this 2-core machine (the paper's
code, Fennec arXiv 2403.06382, runs a real 224 x 224 forward pass per model instead). The
measured stages are in docs/archi2vec.md. Run:

    python benchmarks/bench_archi2vec.py
"""

from __future__ import annotations

import csv
import time

import torch


def main() -> None:
    from fennec_core import registry
    from fennec_core.architecture.features import count_flops
    from fennec_core.architecture.graph import capture
    from fennec_core.architecture.sources import input_size
    from fennec_core.io.bundled import data_path

    with open(data_path("zoo105_models.csv"), newline="") as fh:
        names = [row["model"] for row in csv.DictReader(fh)]
    t = {}
    t0 = time.perf_counter()
    from pytorchcv.model_provider import get_model

    t["import pytorchcv"] = time.perf_counter() - t0
    nets, graphs = {}, []
    t0 = time.perf_counter()
    for n in names:
        with torch.device("meta"):
            nets[n] = get_model(n, pretrained=False)
    t["build on meta (105)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for n in names:
        s = input_size(nets[n])
        graphs.append(capture(nets[n], (1, 3, s, s), model_id=n))
    t["capture graphs (105)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for n in names:
        s = input_size(nets[n])
        count_flops(nets[n], (1, 3, s, s), n)
    t["count FLOPs (105)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    registry.create("graph_encoder", "graph2vec").fit(graphs).transform(graphs)
    t["graph2vec fit (128-d, 100 epochs)"] = time.perf_counter() - t0
    encode = t["import pytorchcv"] + t["build on meta (105)"] + t["capture graphs (105)"] + t["graph2vec fit (128-d, 100 epochs)"]
    print("| stage | seconds |")
    print("|---|---|")
    for k, v in t.items():
        print(f"| {k} | {v:.1f} |")
    print(f"| **encode from scratch (import + build + capture + graph2vec)** | **{encode:.1f}** (target < 30) |")
    print(f"| nodes in all graphs | {sum(g.graph.number_of_nodes() for g in graphs)} |")


if __name__ == "__main__":
    main()
