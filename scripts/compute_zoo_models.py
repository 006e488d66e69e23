"""Compute the models table of the bundled 105-model zoo from the real pytorchcv architectures.

Writes ``fennec_core/data/zoo105_models.csv``: ``model,architecture`` plus meta features
(log10 parameter count, number of conv + linear layers, nominal input size). No weights are
downloaded: models are built without weights on the meta device.

Needs pytorchcv, which imports torchvision (``pip install torch==2.14.1 torchvision==0.29.1
pytorchcv`` on this machine). Run: ``python scripts/compute_zoo_models.py``.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import torch
from pytorchcv.model_provider import get_model

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    history = ROOT / "fennec_core" / "data" / "zoo105_history.csv"
    with open(history, newline="") as fh:
        names = list(dict.fromkeys(row["model"] for row in csv.DictReader(fh)))
    rows = []
    for name in names:
        with torch.device("meta"):
            net = get_model(name, pretrained=False)
        params = sum(p.numel() for p in net.parameters())
        layers = sum(isinstance(m, torch.nn.Conv2d | torch.nn.Linear) for m in net.modules())
        size = net.in_size[0] if hasattr(net, "in_size") else 224
        rows.append([name, f"pytorchcv:{name}", f"{math.log10(params):.6f}", layers, size])
        print(name, params, layers, size, file=sys.stderr)
    out = ROOT / "fennec_core" / "data" / "zoo105_models.csv"
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "architecture", "log10_params", "conv_linear_layers", "input_size"])
        w.writerows(rows)
    print(f"wrote {out} ({len(rows)} models)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
