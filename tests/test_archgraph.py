"""Architecture graphs: meta-device capture, normalised ops, deterministic numbering, errors."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch import nn

from fennec_core.architecture.graph import capture, normalise_op, summary
from fennec_core.errors import FennecError


class Block(nn.Module):
    """A residual block: conv-bn-relu-conv-bn + skip."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                               nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return torch.relu(self.a(x) + x)


def tiny_resnet(width: int = 8, blocks: int = 2) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                         *[Block(width) for _ in range(blocks)], nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(width, 10))


def test_ops_attributes_and_parameters():
    net = tiny_resnet()
    g = capture(net, (1, 3, 32, 32), model_id="tiny")
    ops = [d["op"] for _, d in g.graph.nodes(data=True)]
    assert {"input", "conv", "batch_norm", "relu", "add", "linear"} <= set(ops)
    assert not any("accumulate" in op for op in ops)  # parameter leaves are folded, not nodes
    first = next(d for _, d in g.graph.nodes(data=True) if d["op"] == "conv")
    assert first["kernel"] == (3, 3) and first["stride"] == (2, 2) and first["in_channels"] == 3
    assert first["out_channels"] == 8 and first["groups"] == 1
    lin = next(d for _, d in g.graph.nodes(data=True) if d["op"] == "linear")
    assert (lin["in_features"], lin["out_features"]) == (8, 10)
    s = summary(g)
    assert s["params"] == sum(p.numel() for p in net.parameters())
    assert s["conv_linear_layers"] == 6
    assert nx.is_directed_acyclic_graph(g.graph)
    assert sorted(g.graph.nodes) == list(range(g.graph.number_of_nodes()))
    assert all(u < v for u, v in g.graph.edges)  # numbering is a topological order


def test_two_instantiations_give_identical_graphs():
    torch.manual_seed(0)
    a = capture(tiny_resnet(), (1, 3, 32, 32))
    torch.manual_seed(1)
    b = capture(tiny_resnet(), (1, 3, 32, 32))
    assert dict(a.graph.nodes(data=True)) == dict(b.graph.nodes(data=True))
    assert sorted(a.graph.edges) == sorted(b.graph.edges)
    assert capture(tiny_resnet(blocks=3), (1, 3, 32, 32)).graph.number_of_nodes() > a.graph.number_of_nodes()


def test_module_is_not_modified_and_builder_runs_on_meta():
    net = tiny_resnet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    capture(net, (1, 3, 32, 32))
    assert all(torch.equal(before[k], v) and v.device.type == "cpu" for k, v in net.state_dict().items())
    huge = capture(lambda: nn.Sequential(nn.Linear(50_000, 50_000), nn.ReLU()), (1, 50_000))
    assert summary(huge)["params"] == 50_000 * 50_000 + 50_000  # 2.5e9 parameters, nothing allocated


def test_attention_vocabulary():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln = nn.LayerNorm(16)
            self.mha = nn.MultiheadAttention(16, 2, batch_first=True)

        def forward(self, x):
            h = self.ln(x)
            return self.mha(h, h, h)[0]

    ops = {d["op"] for _, d in capture(Attn(), (2, 5, 16)).graph.nodes(data=True)}
    assert "layer_norm" in ops and ({"softmax", "attention"} & ops) and ({"matmul", "attention"} & ops)


def test_unknown_ops_keep_a_readable_label():
    assert normalise_op("ConvolutionBackward0") == "conv"
    assert normalise_op("AddmmBackward0") == "linear"
    assert normalise_op("FancyNewThingBackward1") == "fancy_new_thing"


def test_failing_forward_names_the_model():
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("shape mismatch somewhere")

    with pytest.raises(FennecError, match="my-broken-net: its forward pass failed.*shape mismatch"):
        capture(Broken(), model_id="my-broken-net")
    with pytest.raises(FennecError, match="wrong-size: its forward pass failed"):
        capture(nn.Linear(4, 2), (1, 5), model_id="wrong-size")
    with pytest.raises(FennecError, match="not an nn.Module"):
        capture(lambda: 42, model_id="x")


def test_meta_features_of_a_model():
    import math

    from fennec_core.architecture.features import count_flops, describe_model

    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, 10))
    # conv: 2 * C_in * C_out * k * k per output pixel; linear: 2 * in * out
    assert count_flops(net, (1, 3, 32, 32)) == 2 * 3 * 8 * 9 * 32 * 32 + 2 * 8 * 10
    net.in_size = (32, 32)  # a pytorchcv-style nominal size
    graph, feats = describe_model(net, model_id="small")
    assert feats["input_size"] == 32.0 and feats["conv_linear_layers"] == 2.0
    assert feats["log10_params"] == pytest.approx(math.log10(sum(p.numel() for p in net.parameters())))
    assert feats["depth"] >= 5 and graph.model_id == "small"
    _, big = describe_model(lambda: tiny_resnet(width=64, blocks=4), input_size=64)
    assert big["log10_flops"] > feats["log10_flops"] and big["log10_params"] > feats["log10_params"]


class _StandardisedConv(nn.Conv2d):
    """A conv whose weight is computed in forward (weight standardisation, as NFNets do)."""

    def forward(self, x):
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        return nn.functional.conv2d(x, w, self.bias, self.stride, self.padding)


def test_conv_with_a_computed_weight_keeps_its_shape():
    # NFNets standardise their conv weights: the conv's only parameter input is then its bias
    # (timm:nf_resnet50 and 13 other NFNets failed with IndexError before)
    net = nn.Sequential(_StandardisedConv(3, 8, 3, padding=1), nn.ReLU(), _StandardisedConv(8, 4, 5, padding=2))
    g = capture(net, (1, 3, 16, 16), model_id="nf")
    convs = [d for _, d in g.graph.nodes(data=True) if d["op"] == "conv"]
    assert len(convs) == 2
    assert [(c["out_channels"], c["in_channels"], c["kernel"]) for c in convs] == \
        [(8, 3, (3, 3)), (4, 8, (5, 5))]
