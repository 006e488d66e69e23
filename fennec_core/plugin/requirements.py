"""What a component needs installed: a registered factory may declare it, and ``fennec plugins``
says whether each component is usable here (importing nothing to find out)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Requiring(Protocol):
    """A registered factory (usually the component's class) that says what it needs installed:
    ``requires``, the modules it imports (top-level import names, e.g. ``("open_clip", "torch")``),
    and ``install``, the line that installs them. ``fennec plugins`` then says whether the
    component is usable here and, when not, what to run; nothing is imported to find out."""

    requires: tuple[str, ...]
    install: str


def missing_modules(factory: Any) -> list[str]:
    """The modules a :class:`Requiring` factory needs that are not installed (found without
    importing them); [] for a factory that declares none."""
    import importlib.util

    if not isinstance(factory, Requiring):
        return []
    out = []
    for module in factory.requires:
        try:
            found = importlib.util.find_spec(module.split(".")[0]) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(module)
    return out
