"""Model references (``scheme:name``), parsed in one place, and building the modules they name.

Schemes:

``timm:<name>``
    ``timm.create_model(name, pretrained=...)`` (needs timm; weights from the local Hugging
    Face cache, or a checkpoint given with ``@``).
``pytorchcv:<name>``
    ``pytorchcv.model_provider.get_model(name, pretrained=...)`` (needs pytorchcv).
``py:<module>:<callable>``
    any importable Python callable returning a ``torch.nn.Module`` (it owns its weights). This
    runs code, so it is accepted from the command line and the Python API, but from a data file
    (a models table, a ``build-history --models`` list) only with ``--allow-code``
    (:func:`check_data_reference`). A reference read from a zoo store is marked
    (:func:`stored_reference`) and a ``py:`` one is never built, on any path (evaluate, demo, a
    warm architecture cache included), unless the caller opted in with :func:`allow_code`.

A trailing ``@/path/weights.pt`` loads a state dict with ``torch.load(weights_only=True)``
(never unpickling code). Without pretrained weights, timm and pytorchcv models have random
weights: that is refused unless ``allow_random_weights=True`` (for tests and benchmarks).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Iterator
from typing import Any

import attrs

from fennec_core.errors import FennecError, InputError, MissingDependencyError

SCHEMES = ("timm", "pytorchcv", "py")
#: Schemes that name data (a registry entry of a library); ``py:`` names code to import and run.
DATA_SCHEMES = ("timm", "pytorchcv")


#: Whether references read from stores may run code here (set by :func:`allow_code`, ``--allow-code``).
_CODE_ALLOWED: contextvars.ContextVar[bool] = contextvars.ContextVar("fennec_allow_code", default=False)


class StoredReference(str):
    """An architecture reference read from a store (untrusted data): it compares and prints as
    the plain string, and remembers where it came from, so a ``py:`` one can be refused
    wherever it is about to be built (:func:`check_runnable`)."""

    origin: str

    def __new__(cls, value: str, origin: str) -> StoredReference:
        """The reference ``value``, marked as read from ``origin`` (a store's path)."""
        self = super().__new__(cls, value)
        self.origin = origin
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # the mark survives pickling (evaluate's worker processes)
        return (StoredReference, (str(self), self.origin))


def stored_reference(ref: str | None, origin: str) -> str | None:
    """``ref`` marked as read from the store at ``origin`` (None stays None; anything but a
    string is a TypeError, which the store's reader reports as a malformed manifest)."""
    if ref is None:
        return None
    if not isinstance(ref, str):
        raise TypeError(f"an architecture reference must be a string, got {type(ref).__name__}")
    return StoredReference(ref, origin)


@contextlib.contextmanager
def allow_code(allowed: bool = True) -> Iterator[None]:
    """While inside, ``py:`` references read from stores may be built (they import and run code):
    the Python API's counterpart of ``--allow-code``, for stores you trust."""
    token = _CODE_ALLOWED.set(bool(allowed) or _CODE_ALLOWED.get())
    try:
        yield
    finally:
        _CODE_ALLOWED.reset(token)


def check_runnable(ref: Any) -> None:
    """Refuse to build a ``py:`` reference read from a store unless :func:`allow_code` is on.

    Called before anything is built and before any cache is consulted, so a store edited to name
    code is refused the same way whether or not the architecture was captured before."""
    if not isinstance(ref, StoredReference) or _CODE_ALLOWED.get():
        return
    if ref.strip().split(":", 1)[0].strip() == "py":
        raise InputError(f"{ref.origin}: the store names architecture {str(ref)!r}, which would import and run "
                         "code; a store is data and never runs code: pass --allow-code (or use "
                         "fennec_core.architecture.sources.allow_code()) only if you trust this store")


@attrs.frozen
class ModelRef:
    """A parsed model reference."""

    scheme: str
    name: str
    weights: str | None = None

    def __str__(self) -> str:
        return f"{self.scheme}:{self.name}" + (f"@{self.weights}" if self.weights else "")


def parse_model_ref(ref: str) -> ModelRef:
    """Split ``scheme:name[@weights]``; unknown schemes fail with the list of known ones."""
    text = ref.strip()
    weights = None
    if "@" in text:
        text, weights = text.rsplit("@", 1)
        weights = weights.strip() or None
    if ":" not in text:
        raise InputError(f"model reference {ref!r} has no scheme; write one of "
                         + ", ".join(f"{s}:<name>" for s in SCHEMES) + " (e.g. timm:resnet50)")
    scheme, name = text.split(":", 1)
    if scheme not in SCHEMES or not name:
        raise InputError(f"model reference {ref!r}: unknown scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    if scheme == "py" and ":" not in name:
        raise InputError(f"model reference {ref!r}: write py:<module>:<callable>, e.g. py:mypkg.models:small_cnn")
    return ModelRef(scheme, name, weights)


def check_data_reference(ref: str, where: str, *, allow_code: bool = False) -> str:
    """``ref`` if it is safe to take from a data file (``where`` says which line of which file).

    A ``py:`` reference imports a module and calls a function of it: from a file that would let
    a data file run code, so it is refused unless ``allow_code`` (``--allow-code``); references
    given on the command line or through the Python API are the user's own and are not checked.
    """
    mref = parse_model_ref(ref)
    if mref.scheme not in DATA_SCHEMES and not allow_code:
        raise InputError(f"{where}: model reference {ref!r} would import and run code; references in files must be "
                         f"data ({', '.join(s + ':' for s in DATA_SCHEMES)}); pass --allow-code (allow_code=True) "
                         "if you trust this file")
    return ref


def _import(module: str, install: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(f"{module} is needed for this model source: pip install 'fennec[archi]' "
                                     f"(or pip install {install}; see the README's install section) ({exc})") from None


@contextlib.contextmanager
def no_downloads(ref: ModelRef) -> Iterator[None]:
    """While inside, pytorchcv, timm (torch.hub URLs and the Hugging Face Hub) cannot download:
    weights come from local caches and files only, as the README promises."""
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise InputError(f"{ref}: its pretrained weights are not on this machine and Fennec downloads nothing "
                         "unless asked: pass --allow-download (allow_download=True), or give weights with "
                         "@/path/weights.pt")

    from unittest import mock

    with contextlib.ExitStack() as stack:
        for module, attr in (("pytorchcv.models.common.model_store", "_download"), ("torch.hub", "download_url_to_file"),
                             ("timm.models._hub", "download_url_to_file")):
            with contextlib.suppress(ImportError, AttributeError):  # a library not installed downloads nothing
                stack.enter_context(mock.patch.object(importlib.import_module(module), attr, refuse))
        with contextlib.suppress(ImportError, AttributeError):
            constants = importlib.import_module("huggingface_hub.constants")
            stack.enter_context(mock.patch.object(constants, "HF_HUB_OFFLINE", True))
        yield


def _from_library(mref: ModelRef, make: Any, hint: str, allow_random_weights: bool, allow_download: bool) -> Any:
    """Build from timm or pytorchcv: pretrained unless weights are given or random ones allowed."""
    pretrained = mref.weights is None and not allow_random_weights
    try:
        with contextlib.nullcontext() if allow_download or not pretrained else no_downloads(mref):
            return make(mref.name, pretrained=pretrained)
    except FennecError:
        raise
    except Exception as exc:
        raise FennecError(f"{mref}: {mref.scheme} could not build it ({type(exc).__name__}: {exc}); {hint}give "
                          "weights with @/path/weights.pt, pass --allow-download to fetch them, or "
                          "--allow-random-weights for a test run") from None


def build_model(ref: str | ModelRef, *, allow_random_weights: bool = False, allow_download: bool = False) -> Any:
    """Build the ``torch.nn.Module`` a reference names, in eval mode.

    Pretrained weights of ``timm:`` and ``pytorchcv:`` models come from local caches only;
    ``allow_download`` lets those libraries fetch missing ones.
    """
    import torch

    check_runnable(ref)
    mref = parse_model_ref(ref) if isinstance(ref, str) else ref
    if mref.scheme == "py":
        module_name, fn_name = mref.name.rsplit(":", 1)
        module = _import(module_name, module_name.split(".")[0])
        fn = getattr(module, fn_name, None)
        if not callable(fn):
            raise InputError(f"{mref}: {module_name} has no callable {fn_name!r}")
        net = fn()
    elif mref.scheme == "timm":
        timm = _import("timm", "timm")
        net = _from_library(mref, timm.create_model, "check the name with timm.list_models(), ", allow_random_weights,
                            allow_download)
    else:
        provider = _import("pytorchcv.model_provider", "pytorchcv")
        net = _from_library(mref, provider.get_model, "", allow_random_weights, allow_download)
    if not isinstance(net, torch.nn.Module):
        raise InputError(f"{mref}: built a {type(net).__name__}, not a torch.nn.Module")
    if mref.weights:
        try:
            state = torch.load(mref.weights, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise InputError(f"{mref}: weights file {mref.weights} not found") from None
        except Exception as exc:
            raise InputError(f"{mref}: cannot load {mref.weights} as a state dict ({type(exc).__name__}: {exc})") from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            net.load_state_dict(state)
        except Exception as exc:
            raise InputError(f"{mref}: weights do not match the architecture ({exc})") from None
    return net.eval()


def input_size(net: Any, default: int = 224) -> int:
    """The model's nominal square input size: pytorchcv ``in_size``, timm ``default_cfg``, else ``default``."""
    size = getattr(net, "in_size", None)
    if isinstance(size, tuple | list) and size:
        return int(size[0])
    cfg = getattr(net, "default_cfg", None) or getattr(net, "pretrained_cfg", None)
    if isinstance(cfg, dict) and "input_size" in cfg:
        return int(cfg["input_size"][-1])
    return default


def build_architecture(ref: str | ModelRef) -> Any:
    """Build a model's architecture on the meta device: no weights are needed or allocated
    (for architecture graphs and meta features)."""
    import torch

    check_runnable(ref)
    mref = parse_model_ref(ref) if isinstance(ref, str) else ref
    with torch.device("meta"):
        return build_model(ModelRef(mref.scheme, mref.name), allow_random_weights=True)
