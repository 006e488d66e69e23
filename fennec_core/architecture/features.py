"""Meta features of a model from its architecture alone (no weights, nothing computed).

Per model: parameter count, number of conv + linear layers, depth (longest path of the
architecture graph), FLOPs at the nominal input (``torch.utils.flop_counter`` on the meta
device), and the nominal input resolution. Counts enter the meta model as log10 values, as
their effect on transfer is multiplicative rather than additive.
"""

from __future__ import annotations

import math
from typing import Any

from fennec_core.architecture.graph import capture, meta_forward, summary
from fennec_core.records import ArchGraph


def count_flops(model: Any, input_shape: tuple[int, ...], model_id: str = "model") -> int:
    """FLOPs of one forward pass at ``input_shape`` (multiply-add = 2), counted on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    meta_forward(model, input_shape, model_id=model_id, grad=False, context=counter)
    return int(counter.get_total_flops())


def describe_model(model: Any, input_size: int | None = None, *, model_id: str = "model",
                   source: str = "module") -> tuple[ArchGraph, dict[str, float]]:
    """(architecture graph, meta features) of an ``nn.Module`` or a builder of one.

    A builder is called on the meta device, so even huge models cost no memory. The input
    size defaults to the model's nominal one (pytorchcv ``in_size``, timm ``default_cfg``),
    else 224.
    """
    import torch

    from fennec_core.architecture.sources import input_size as nominal_size

    if not isinstance(model, torch.nn.Module):
        with torch.device("meta"):
            model = model()
    size = input_size or nominal_size(model)
    shape = (1, 3, size, size)
    graph = capture(model, shape, model_id=model_id, source=source)
    s = summary(graph)
    flops = count_flops(model, shape, model_id)
    # Parameters and layers are counted on the module, not the graph: a module applied twice
    # (CBAM's shared channel MLP) is one layer with one set of weights, though it is two ops.
    params = sum(p.numel() for p in model.parameters())
    layers = sum(isinstance(m, torch.nn.modules.conv._ConvNd | torch.nn.Linear) for m in model.modules())
    features = {
        "log10_params": math.log10(max(params, 1)),
        "conv_linear_layers": float(layers),
        "depth": float(s["depth"]),
        "log10_flops": math.log10(max(flops, 1)),
        "input_size": float(size),
    }
    return graph, features
