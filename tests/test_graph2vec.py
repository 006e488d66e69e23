"""graph2vec on captured architecture graphs: deterministic, infers new models, and places
related architectures together (real timm and pytorchcv architectures, no weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import require
from torch import nn

from fennec_core import registry
from fennec_core.architecture.graph import capture

pytest.importorskip("karateclub", reason="graph2vec needs karateclub (installed by `nox -s tests`)")


def _cnn(width: int, blocks: int) -> nn.Module:
    layers = [nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
    for _ in range(blocks):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10))


def test_deterministic_and_infers_new_graphs():
    graphs = [capture(_cnn(8, b), (1, 3, 32, 32), model_id=f"cnn{b}") for b in range(1, 8)]
    a = registry.create("graph_encoder", "graph2vec", epochs=30).fit(graphs).transform(graphs)
    b = registry.create("graph_encoder", "graph2vec", epochs=30).fit(graphs).transform(graphs)
    np.testing.assert_array_equal(a, b)
    enc = registry.create("graph_encoder", "graph2vec", epochs=30).fit(graphs)
    again = enc.transform([capture(_cnn(8, 3), (1, 3, 32, 32), model_id="other-instance")])
    np.testing.assert_array_equal(again[0], a[2])  # the same architecture gets the same vector
    new = enc.transform([capture(_cnn(16, 12), (1, 3, 32, 32), model_id="new")])
    assert new.shape == (1, 128) and np.all(np.isfinite(new))


@pytest.mark.slow
def test_resnet50_is_closer_to_resnet101_than_to_vit():
    timm = require("timm")
    names = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2",
             "densenet121", "densenet169", "mobilenetv2_100", "mobilenetv3_large_100", "efficientnet_b0",
             "efficientnet_b1", "mnasnet_100", "regnety_004", "regnety_008", "vgg11", "vgg16", "vgg19",
             "convnext_tiny", "convnext_small", "vit_tiny_patch16_224", "vit_small_patch16_224",
             "vit_base_patch16_224", "deit_tiny_patch16_224", "deit_small_patch16_224",
             "swin_tiny_patch4_window7_224", "mixer_b16_224", "inception_v3", "xception41", "dla34", "ghostnet_100"]
    graphs = []
    for name in names:
        with torch.device("meta"):
            net = timm.create_model(name, pretrained=False)
        graphs.append(capture(net, (1, 3, 224, 224), model_id=name))
    assert len(graphs) >= 30
    emb = registry.create("graph_encoder", "graph2vec").fit(graphs).transform(graphs)
    at = {n: i for i, n in enumerate(names)}
    d = lambda a, b: float(np.linalg.norm(emb[at[a]] - emb[at[b]]))  # noqa: E731
    assert d("resnet50", "resnet101") < d("resnet50", "vit_base_patch16_224")


@pytest.mark.parametrize("name", ["efficientnet_b0b", "efficientnet_edge_large_b", "mixnet_l"])
def test_pytorchcv_models_fx_cannot_trace_encode(name):
    """torch.fx fails on these three benchmark models; the autograd capture does not."""
    provider = require("pytorchcv.model_provider")
    from fennec_core.architecture.features import describe_model

    with torch.device("meta"):
        net = provider.get_model(name, pretrained=False)
    graph, feats = describe_model(net, model_id=name)
    assert graph.graph.number_of_nodes() > 100
    assert feats["conv_linear_layers"] > 20 and feats["log10_flops"] > 8
