"""dinov2: a timm DINOv2 ViT as a task proxy (the pooled image embedding, L2-normalised).

``model`` is a timm name (default ``vit_large_patch14_dinov2.lvd142m``; on a CPU
``vit_small_patch14_dinov2.lvd142m`` is about 14x cheaper). ``pretrained``: ``"hub"`` (the
default) looks for the timm weights in the local Hugging Face cache only (repo
``timm/<model>``), or a checkpoint file / folder; ``"none"`` builds random weights (benchmarks).
Checkpoints are read with ``safetensors`` or ``torch.load(weights_only=True)`` and loaded
strictly (a classifier head in the file is dropped, as the proxy uses the pooled features);
a checkpoint of another architecture fails naming the mismatched keys. Extra ``timm``
arguments (e.g. ``img_size=224``) go through ``model_kwargs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fennec_core import hookimpl
from fennec_core.errors import FennecError, MissingDependencyError
from fennec_core.task.proxy_base import ImageProxyBase, resolve_weights

HINT = ("Download them on a connected machine (python -c \"import timm; timm.create_model('{model}', "
        "pretrained=True)\") and copy ~/.cache/huggingface/hub here, or pass pretrained=/path/to/model.safetensors.")


def load_state_dict(path: Path) -> dict[str, Any]:
    """A checkpoint's tensors, without running code (safetensors, or torch.load weights_only)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "teacher"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise FennecError(f"{path}: not a state dict of tensors")
    return state


class Dinov2Proxy(ImageProxyBase):
    """timm DINOv2 embeddings of a task's images."""

    requires = ('timm', 'safetensors', 'torch')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[proxies]'"

    name = "dinov2"

    def __init__(self, *, model: str = "vit_large_patch14_dinov2.lvd142m", pretrained: str | None = "hub",
                 model_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model, self.pretrained, self.model_kwargs = model, pretrained, dict(model_kwargs or {})

    def spec(self) -> dict[str, Any]:
        """Name and configuration (recorded in the zoo; part of the embedding cache key)."""
        return {"name": self.name, "config": {"model": self.model, "pretrained": str(self.pretrained),
                                              "model_kwargs": self.model_kwargs,
                                              "images_per_task": self.images_per_task, "seed": self.seed}}

    def _load(self) -> tuple[Any, Any]:
        try:
            import timm
            from timm.data import create_transform, resolve_data_config
        except ImportError as exc:
            raise MissingDependencyError(f"the dinov2 proxy needs timm: pip install timm ({exc})") from None
        pretrained = self.pretrained
        hub = None
        if str(pretrained).lower() == "hub":
            hub, pretrained = f"timm/{self.model}", self.model
        path = resolve_weights(pretrained, what=f"dinov2 {self.model}", hub_repo=hub, hint=HINT.format(model=self.model))
        try:
            net = timm.create_model(self.model, pretrained=False, num_classes=0, **self.model_kwargs)
        except RuntimeError as exc:
            raise FennecError(f"dinov2: timm cannot build {self.model!r} ({exc})") from None
        if path is not None:
            state = {k: v for k, v in load_state_dict(path).items() if not k.startswith(("head.", "fc."))}
            result = net.load_state_dict(state, strict=False)
            if result.missing_keys or result.unexpected_keys:
                raise FennecError(
                    f"dinov2: checkpoint {path} does not fit {self.model}: {len(result.missing_keys)} missing keys "
                    f"(e.g. {result.missing_keys[:2]}), {len(result.unexpected_keys)} unexpected "
                    f"(e.g. {result.unexpected_keys[:2]}); check that model and checkpoint match")
        net = net.to(self.device).eval()
        if self.half:
            net = net.half()
        cfg = resolve_data_config({}, model=net)
        img_size = getattr(getattr(net, "patch_embed", None), "img_size", None)
        if img_size:  # the built size wins over the pretrained default (e.g. img_size=224 for a 518 model)
            cfg["input_size"] = (3, *tuple(img_size))
        preprocess = create_transform(**cfg)
        return net, preprocess


@hookimpl
def fennec_register_task_proxies(register):
    """Register timm DINOv2 as ``dinov2``."""
    register("dinov2", Dinov2Proxy)
