"""Fennec: recommend which pre-trained models to fine-tune for a new task.

``import fennec_core`` is cheap: the engine, torch and every plugin load on first use.
Plugin authors need only ``from fennec_core import hookimpl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("fennec")
"""Marker for plugin hook implementations, e.g. ``@hookimpl def fennec_register_factorizers(register)``."""

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.engine import Fennec
    from fennec_core.errors import FennecError
    from fennec_core.records import Factors, History, ModelCard, Ranking, TaskCard
    from fennec_core.zoo import FittedZoo

_LAZY = {
    "Fennec": "fennec_core.engine",
    "History": "fennec_core.records",
    "ModelCard": "fennec_core.records",
    "TaskCard": "fennec_core.records",
    "Ranking": "fennec_core.records",
    "Factors": "fennec_core.records",
    "FennecError": "fennec_core.errors",
    "FittedZoo": "fennec_core.zoo",
}


#: Public modules reachable as attributes (``from fennec_core import registry``).
_MODULES = {"registry": "fennec_core.plugin.registry"}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    raise AttributeError(f"module 'fennec_core' has no attribute {name!r}")


__all__ = [
    "Factors", "Fennec", "FennecError", "FittedZoo", "History", "ModelCard", "Ranking", "TaskCard", "__version__", "hookimpl",
]
