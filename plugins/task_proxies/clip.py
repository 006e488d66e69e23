"""clip: open_clip's image tower as a task proxy (and its text tower for task descriptions).

The Fennec paper embeds each task's images with CLIP ViT-L/14 (``model="ViT-L-14",
pretrained="openai"``, the default). On a CPU, ``ViT-B-32`` is about 9x cheaper per image.
``pretrained`` is a tag resolved in the local Hugging Face cache only, a checkpoint file, or a
folder holding one (``open_clip_model.safetensors`` / ``open_clip_pytorch_model.bin``);
``"none"`` builds random weights (benchmarks only). Checkpoints load through open_clip's own
loader with ``weights_only=True``. A custom architecture: ``config=/path/my-model.json`` (an
open_clip model config) and ``model="my-model"``.

Get weights on a connected machine, e.g.::

    python -c "import open_clip; open_clip.create_model('ViT-L-14', pretrained='openai')"

then copy ``~/.cache/huggingface/hub`` over, or pass ``pretrained=/path/to/open_clip_pytorch_model.bin``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fennec_core import hookimpl
from fennec_core.errors import FennecError, MissingDependencyError
from fennec_core.task.proxy_base import ImageProxyBase, resolve_weights

HINT = ("Download them on a connected machine (python -c \"import open_clip; open_clip.create_model('{model}', "
        "pretrained='{tag}')\") and copy ~/.cache/huggingface/hub here, or pass pretrained=/path/to/checkpoint "
        "(a file, or a folder holding open_clip_pytorch_model.bin).")


def _open_clip() -> Any:
    try:
        import open_clip
    except ImportError as exc:
        raise MissingDependencyError(f"the clip proxy needs open_clip: pip install open_clip_torch ({exc})") from None
    return open_clip


class ClipProxy(ImageProxyBase):
    """open_clip image embeddings of a task's images (L2-normalised)."""

    requires = ('open_clip', 'torch')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[proxies]'"

    name = "clip"

    def __init__(self, *, model: str = "ViT-L-14", pretrained: str | None = "openai", config: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model, self.pretrained, self.config_path = model, pretrained, config
        self._net: Any = None

    def spec(self) -> dict[str, Any]:
        """Name and configuration (recorded in the zoo; part of the embedding cache key)."""
        return {"name": self.name, "config": {"model": self.model, "pretrained": str(self.pretrained),
                                              "config": self.config_path, "images_per_task": self.images_per_task,
                                              "seed": self.seed}}

    def _network(self) -> tuple[Any, Any]:
        if self._net is not None:
            return self._net
        open_clip = _open_clip()
        if self.config_path:
            open_clip.add_model_config(self.config_path)
        if self.model not in open_clip.list_models():
            raise FennecError(f"clip: unknown open_clip model {self.model!r}; see open_clip.list_models() or give "
                              "config=/path/model.json")
        tag_cfg: dict[str, Any] = {}
        is_tag = self.pretrained is not None and str(self.pretrained).lower() not in ("none", "random") \
            and not any(c in str(self.pretrained) for c in "/\\.")
        if is_tag:
            tag_cfg = open_clip.get_pretrained_cfg(self.model, str(self.pretrained)) or {}
            if not tag_cfg:
                tags = [t for m, t in open_clip.list_pretrained() if m == self.model]
                raise FennecError(f"clip: {self.model} has no pretrained tag {self.pretrained!r}; known tags: "
                                  f"{', '.join(tags) or 'none'}; or pass a checkpoint path")
        hub = str(tag_cfg.get("hf_hub", "")).strip("/") or None
        path = resolve_weights(self.pretrained, what=f"clip {self.model}", hub_repo=hub,
                               hint=HINT.format(model=self.model, tag=self.pretrained))
        preprocess_cfg = {f"image_{k}": tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode")
                          if k in tag_cfg}
        try:
            net, _, preprocess = open_clip.create_model_and_transforms(
                self.model, pretrained=str(path) if path else None, device=self.device,
                precision="fp16" if self.half else "fp32", force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)),
                weights_only=True, **preprocess_cfg)
        except (RuntimeError, AssertionError, KeyError, ValueError) as exc:
            raise FennecError(f"clip: checkpoint {path} does not fit {self.model} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); "
                              "check that model and checkpoint match") from None
        net.eval()
        self._net = (net, preprocess)
        return self._net

    def _load(self) -> tuple[Any, Any]:
        net, preprocess = self._network()
        return net.encode_image, preprocess

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """CLIP text-tower embeddings of task descriptions or class names (L2-normalised)."""
        import torch

        net, _ = self._network()
        tokenizer = _open_clip().get_tokenizer(self.model)
        with torch.inference_mode():
            feats = net.encode_text(tokenizer(list(texts)).to(self.device)).float()
        return torch.nn.functional.normalize(feats, dim=-1).cpu().numpy()


@hookimpl
def fennec_register_task_proxies(register):
    """Register open_clip as ``clip``."""
    register("clip", ClipProxy)
