"""Architecture graphs: any ``torch.nn.Module`` becomes an attributed DAG (an ArchGraph).

Capture (measured by ``benchmarks/bench_archi2vec.py`` on the 105 benchmark architectures, see
docs/archi2vec.md: all 105 captured, including the 3 ``torch.fx`` cannot trace): one forward pass on the *meta* device -- parameters and
input are meta tensors, so nothing is computed or allocated -- then a walk of the autograd
graph from the output back through ``grad_fn.next_functions``. Edges follow data flow
(input -> consumer). A module passed in is never modified: its parameters are swapped for
meta copies through ``torch.func.functional_call``.

Nodes carry a normalised op vocabulary (:data:`OP_VOCABULARY`: ``conv``, ``linear``,
``batch_norm``, ``relu``, ``add``, ``matmul``, ``softmax``, ``max_pool``, ``cat``, ``reshape``,
...), so a model's graph does not depend on which backend kernel autograd recorded; unknown ops
keep a readable label (``Foo Backward0`` -> ``foo``) and never fail. Attributes where the
capture knows them: kernel, stride, padding, dilation, groups, in/out channels (conv);
in/out features (linear); normalised shape (layer_norm); ``params`` (parameters the op owns).

Parameter leaves (autograd's ``AccumulateGrad`` nodes, 45% of all nodes on the benchmark) are
not ops: they are folded into their consumer as its ``params`` count and weight-derived
attributes, and dropped as nodes. Nodes are numbered 0..n-1 in a deterministic topological
order, so two instantiations of one architecture give identical graphs. Each node also gets a
``feature`` string (op plus key attributes) for graph encoders such as graph2vec.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fennec_core.errors import FennecError
from fennec_core.records import ArchGraph

#: autograd node class name (without the Backward suffix) -> normalised op.
OP_VOCABULARY: dict[str, str] = {
    "Convolution": "conv", "ConvolutionBackwardNoBias": "conv", "CudnnConvolution": "conv",
    "MkldnnConvolution": "conv", "SlowConv2D": "conv", "ConvDepthwise2D": "conv",
    "Addmm": "linear", "Linear": "linear",
    "NativeBatchNorm": "batch_norm", "CudnnBatchNorm": "batch_norm", "NativeBatchNormLegit": "batch_norm",
    "NativeBatchNormLegitNoTraining": "batch_norm", "BatchNorm": "batch_norm",
    "NativeLayerNorm": "layer_norm", "NativeGroupNorm": "group_norm",
    "Relu": "relu", "Threshold": "relu", "Relu6": "relu6", "Hardtanh": "hardtanh", "LeakyRelu": "leaky_relu",
    "Elu": "elu", "Gelu": "gelu", "Silu": "silu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Hardswish": "hardswish",
    "Hardsigmoid": "hardsigmoid", "Mish": "mish", "Softplus": "softplus", "Prelu": "prelu",
    "PreluKernel": "prelu",
    "Add": "add", "Sub": "sub", "Rsub": "sub", "Mul": "mul", "Div": "div", "Neg": "neg", "Pow": "pow",
    "Sqrt": "sqrt", "Rsqrt": "rsqrt", "Exp": "exp", "Log": "log", "Abs": "abs", "Clamp": "clamp",
    "Mm": "matmul", "Bmm": "matmul", "Matmul": "matmul", "Baddbmm": "matmul",
    "Softmax": "softmax", "LogSoftmax": "log_softmax",
    "MaxPool2DWithIndices": "max_pool", "MaxPool3DWithIndices": "max_pool", "MaxPool2D": "max_pool",
    "AvgPool2D": "avg_pool", "AvgPool3D": "avg_pool", "AdaptiveAvgPool2D": "adaptive_avg_pool",
    "AdaptiveMaxPool2D": "adaptive_max_pool", "Mean": "mean", "Sum": "sum", "Amax": "max", "Max": "max",
    "Cat": "cat", "Stack": "stack", "Split": "split", "SplitWithSizes": "split", "Chunk": "split",
    "Unbind": "split", "Select": "select", "Slice": "slice", "Index": "index", "Gather": "gather",
    "View": "reshape", "Reshape": "reshape", "ReshapeAlias": "reshape", "UnsafeView": "reshape",
    "Flatten": "reshape", "Squeeze": "reshape", "Unsqueeze": "reshape", "Expand": "expand",
    "Permute": "permute", "Transpose": "permute", "T": "permute", "Clone": "identity", "Alias": "identity",
    "ToCopy": "identity", "Contiguous": "identity",
    "UpsampleNearest2D": "upsample", "UpsampleBilinear2D": "upsample", "PixelShuffle": "pixel_shuffle",
    "ConstantPadNd": "pad", "ReflectionPad2D": "pad", "Dropout": "dropout", "NativeDropout": "dropout",
    "ScaledDotProductFlashAttentionForCpu": "attention", "ScaledDotProductEfficientAttention": "attention",
    "ScaledDotProductAttentionMath": "attention", "ScaledDotProductFlashAttention": "attention",
    "Where": "where", "Roll": "roll", "Embedding": "embedding",
}

_BACKWARD = re.compile(r"Backward\d*$")
_SPLIT_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def normalise_op(grad_fn_name: str) -> str:
    """Normalised op of an autograd node class name; unknown names become readable labels."""
    base = _BACKWARD.sub("", grad_fn_name)
    if base in OP_VOCABULARY:
        return OP_VOCABULARY[base]
    return _SPLIT_CAMEL.sub("_", base).lower() or "unknown"


def _tuple(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return (int(value),)
    try:
        return tuple(int(v) for v in value)
    except TypeError:
        return None


def _attributes(fn: Any, op: str, weights: list[tuple[int, ...]]) -> dict[str, Any]:
    """Op attributes autograd saved (stride, padding, ...) plus ones the weights imply."""
    attrs: dict[str, Any] = {}
    if op == "conv":
        for key in ("stride", "padding", "dilation"):
            val = _tuple(getattr(fn, f"_saved_{key}", None))
            if val is not None:
                attrs[key] = val
        groups = getattr(fn, "_saved_groups", None)
        if groups is not None:
            attrs["groups"] = int(groups)
        w = next((w for w in weights if len(w) >= 3), None)
        if w is None:  # a computed weight (NFNets standardise theirs): only the bias is a parameter here
            saved = getattr(fn, "_saved_weight", None)
            w = tuple(saved.shape) if saved is not None and len(getattr(saved, "shape", ())) >= 3 else None
        if w is not None:
            attrs["out_channels"] = w[0]
            attrs["in_channels"] = w[1] * attrs.get("groups", 1)
            attrs["kernel"] = tuple(w[2:])
    elif op == "linear" and weights:
        w = weights[0]  # nn.Linear's weight is (out_features, in_features)
        if len(w) == 2:
            attrs["out_features"], attrs["in_features"] = w
    elif op == "layer_norm":
        shape = _tuple(getattr(fn, "_saved_normalized_shape", None))
        if shape is not None:
            attrs["normalized_shape"] = shape
    elif op == "softmax" or op == "log_softmax":
        dim = getattr(fn, "_saved_dim", None)
        if isinstance(dim, int):
            attrs["dim"] = dim
    elif op in ("max_pool", "avg_pool"):
        for key in ("kernel_size", "stride"):
            val = _tuple(getattr(fn, f"_saved_{key}", None))
            if val is not None:
                attrs[key.replace("_size", "")] = val
    return attrs


def node_feature(op: str, attrs: dict[str, Any]) -> str:
    """The node label graph encoders hash: the op plus its shape-free structural attributes."""
    keys = ("kernel", "stride", "groups", "dilation")
    extra = ",".join(f"{k}={attrs[k]}" for k in keys if k in attrs)
    return f"{op}[{extra}]" if extra else op


def meta_forward(model: Any, input_shape: Sequence[int], *, model_id: str = "model", grad: bool = True,
                 context: Any = None) -> tuple[Any, Any]:
    """Run ``model`` once on a meta input of ``input_shape``: (output, input tensor).

    Parameters and buffers are swapped for meta copies (``torch.func.functional_call``), so
    the module itself is never modified and nothing is computed or allocated. With ``grad``
    the parameters and input require gradients, so the output carries the autograd graph.
    ``context`` (e.g. a FLOP counter) wraps the pass. A forward that fails raises
    :class:`FennecError` naming the model.
    """
    import contextlib

    import torch

    params = {n: torch.empty_like(p, device="meta").requires_grad_(grad) for n, p in model.named_parameters()}
    buffers = {n: torch.empty_like(b, device="meta") for n, b in model.named_buffers()}
    x = torch.empty(tuple(input_shape), device="meta", requires_grad=grad)
    was_training = model.training
    model.eval()
    try:
        with torch.set_grad_enabled(grad), context or contextlib.nullcontext():
            out = torch.func.functional_call(model, {**params, **buffers}, (x,))
    except Exception as exc:
        raise FennecError(f"{model_id}: its forward pass failed on a meta input of shape {tuple(input_shape)} "
                          f"({type(exc).__name__}: {exc}); check the input size, or that the module runs on the "
                          "meta device") from None
    finally:
        model.train(was_training)
    return out, x


def capture(
    model: Any,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    *,
    model_id: str = "model",
    source: str = "module",
) -> ArchGraph:
    """Capture ``model`` (an ``nn.Module``, or a callable returning one) as an ArchGraph.

    The forward pass runs on the meta device with ``input_shape``; nothing is computed.
    A forward that fails raises :class:`FennecError` naming the model.
    """
    import networkx as nx
    import torch

    if not isinstance(model, torch.nn.Module):
        if not callable(model):
            raise FennecError(f"{model_id}: expected an nn.Module or a callable returning one, got {type(model).__name__}")
        with torch.device("meta"):
            model = model()
        if not isinstance(model, torch.nn.Module):
            raise FennecError(f"{model_id}: the builder returned {type(model).__name__}, not an nn.Module")
    out, x = meta_forward(model, input_shape, model_id=model_id)
    outputs = [t for t in _flatten(out) if isinstance(t, torch.Tensor) and t.grad_fn is not None]
    if not outputs:
        raise FennecError(f"{model_id}: its output does not depend on its input or parameters; nothing to capture")
    return _walk(outputs, model_id, source, nx, input_ids={id(x)})


def _flatten(out: Any) -> list[Any]:
    if isinstance(out, list | tuple):
        return [t for o in out for t in _flatten(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flatten(o)]
    return [out]


_VIEW_OPS = ("permute", "reshape", "identity", "expand")


def _parameter_shapes(fn: Any, input_ids: set[int]) -> list[tuple[int, ...]] | None:
    """Shapes of the parameters behind ``fn`` when it is a parameter leaf, or a view of
    parameters only (the transposed weight ``F.linear`` feeds to ``addmm``); else None."""
    if type(fn).__name__ == "AccumulateGrad":
        return None if id(fn.variable) in input_ids else [tuple(fn.variable.shape)]
    if normalise_op(type(fn).__name__) not in _VIEW_OPS:
        return None
    shapes: list[tuple[int, ...]] = []
    for child, _ in fn.next_functions:
        if child is None:
            continue
        sub = _parameter_shapes(child, input_ids)
        if sub is None:
            return None
        shapes += sub
    return shapes or None


def _walk(outputs: list[Any], model_id: str, source: str, nx: Any, input_ids: set[int]) -> ArchGraph:
    ops: dict[int, tuple[str, Any]] = {}
    edges: set[tuple[int, int]] = set()
    weights: dict[int, list[tuple[int, ...]]] = {}
    stack = [o.grad_fn for o in outputs]
    seen: set[int] = set()
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        if type(fn).__name__ == "AccumulateGrad":  # the model input (parameters never get here)
            ops[id(fn)] = ("input", fn)
            continue
        ops[id(fn)] = (normalise_op(type(fn).__name__), fn)
        for child, _ in fn.next_functions:
            if child is None:
                continue
            shapes = _parameter_shapes(child, input_ids)
            if shapes is not None:  # parameters: fold into this consumer
                weights.setdefault(id(fn), []).extend(shapes)
                continue
            edges.add((id(child), id(fn)))
            stack.append(child)
    g = nx.DiGraph()
    for key, (op, fn) in ops.items():
        shapes = sorted(weights.get(key, []), key=len, reverse=True)
        attrs = _attributes(fn, op, shapes) if op != "input" else {}
        n_params = sum(int(_prod(s)) for s in shapes)
        g.add_node(key, op=op, params=n_params, **attrs)
    g.add_edges_from(edges)
    order = _stable_order(g, nx)
    mapping = {old: new for new, old in enumerate(order)}
    h = nx.relabel_nodes(g, mapping)
    out = nx.DiGraph()
    for i in range(len(order)):
        data = dict(h.nodes[i])
        data["feature"] = node_feature(data["op"], data)
        out.add_node(i, **data)
    out.add_edges_from(sorted(h.edges()))
    return ArchGraph(model_id, out, source)


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for v in shape:
        out *= v
    return out


def _stable_order(g: Any, nx: Any) -> list[int]:
    """Topological order with ties broken by a structural key (not memory addresses)."""
    depth: dict[int, int] = {}
    for node in nx.topological_sort(g):
        depth[node] = max((depth[p] + 1 for p in g.predecessors(node)), default=0)
    signature = {n: (depth[n], g.nodes[n]["op"], str(sorted(g.nodes[n].items()))) for n in g}
    return list(nx.lexicographical_topological_sort(g, key=lambda n: signature[n]))


def summary(graph: ArchGraph) -> dict[str, Any]:
    """Counts over a captured graph: nodes, edges, conv + linear layers, depth, parameters."""
    import networkx as nx

    g = graph.graph
    ops = [d["op"] for _, d in g.nodes(data=True)]
    return {
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "conv_linear_layers": sum(op in ("conv", "linear") for op in ops),
        "depth": nx.dag_longest_path_length(g) + 1 if g.number_of_nodes() else 0,
        "params": sum(d.get("params", 0) for _, d in g.nodes(data=True)),
    }

