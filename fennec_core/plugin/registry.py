"""The plugin registry: built-in and third-party components, looked up by kind and name.

Built-in plugins (modules listed in :data:`DEFAULT_PLUGINS`) and third-party plugins
(entry points in group ``fennec``) are registered with one pluggy ``PluginManager`` and
load the same way: each hook ``fennec_register_<kind>s(register)`` receives a ``register``
callback owned by the core. Loading happens once, lazily, at the first lookup.

Environment variables:

``FENNEC_PLUGINS``
    Comma-separated plugin names to load (built-in module paths or entry-point names); unset
    loads all. ``FENNEC_PLUGINS=fennec_plugins.factorizers.nmf,myplugin`` is handy when a plugin misbehaves.
``FENNEC_TRACE_HOOKS``
    When set to a non-empty value, every hook call is traced to stderr.

A plugin that fails to import, or whose hook raises, is listed as broken (see
:func:`broken`) and the rest keep working. A name registered twice is a conflict: both
origins are named, and creating it fails rather than silently picking one.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

import attrs
import pluggy

from fennec_core.errors import (
    FennecError,
    PluginError,
    RegistrationError,
    UnknownComponentError,
    one_line,
)
from fennec_core.plugin import hookspecs

ENTRY_POINT_GROUP = "fennec"

#: Hook name for each component kind.
KINDS: dict[str, str] = {
    "graph_encoder": "fennec_register_graph_encoders",
    "task_proxy": "fennec_register_task_proxies",
    "factorizer": "fennec_register_factorizers",
    "score_merger": "fennec_register_score_mergers",
    "estimator": "fennec_register_estimators",
    "ranker": "fennec_register_rankers",
    "protocol": "fennec_register_protocols",
    "backbone": "fennec_register_backbones",
}

#: Built-in plugins, registered exactly like third-party ones.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "fennec_plugins.factorizers.nmf",
    "fennec_plugins.factorizers.pmf",
    "fennec_plugins.factorizers.spark_als",
    "fennec_plugins.mergers.merges",
    "fennec_plugins.estimators",
    "fennec_plugins.graph_encoders.graph2vec",
    "fennec_plugins.graph_encoders.dgl_gin",
    "fennec_plugins.task_proxies.clip",
    "fennec_plugins.task_proxies.dinov2",
    "fennec_plugins.task_proxies.efficientnet_lite",
    "fennec_plugins.task_proxies.text",
    "fennec_plugins.rankers.model_spider",
    "fennec_core.evaluation.builtin",
    "fennec_plugins.backbones.imagenet",
    "fennec_plugins.backbones.text",
)

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")


@attrs.frozen
class Component:
    """One registered component: its kind, name, factory and where it came from."""

    kind: str
    name: str
    factory: Callable[..., Any]
    origin: str
    plugin: str


@attrs.frozen
class BrokenPlugin:
    """A plugin that failed to import or register, with the error it raised."""

    plugin: str
    origin: str
    error: str


@attrs.frozen
class PluginInfo:
    """A loaded plugin: name, origin (built-in or distribution) and the hooks it implements."""

    plugin: str
    origin: str
    hooks: tuple[str, ...]


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UnknownComponentError(
            f"unknown component kind {kind!r}; kinds are: {', '.join(sorted(KINDS))}"
        )
    return kind


def _natural_key(name: str) -> list[Any]:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


class Registry:
    """Holds one plugin manager and the components its plugins registered.

    Most code uses the module-level functions (:func:`available`, :func:`create`), which
    share one lazily loaded default registry. Embedders that want isolation (tests, AutoML
    systems running several configurations) make their own ``Registry``.
    """

    def __init__(
        self,
        builtins: Iterable[str] = DEFAULT_PLUGINS,
        *,
        entry_points: bool = True,
        only: Iterable[str] | None = None,
    ) -> None:
        self._builtins = tuple(builtins)
        self._entry_points = entry_points
        env_only = os.environ.get("FENNEC_PLUGINS")
        if only is None and env_only:
            only = [p.strip() for p in env_only.split(",") if p.strip()]
        self._only = set(only) if only is not None else None
        self._lock = threading.RLock()
        self._loaded = False
        self._components: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        self._conflicts: dict[tuple[str, str], list[str]] = {}
        self._broken: list[BrokenPlugin] = []
        self._plugins: list[PluginInfo] = []
        self.pm = pluggy.PluginManager("fennec")
        self.pm.add_hookspecs(hookspecs)
        if os.environ.get("FENNEC_TRACE_HOOKS"):
            self.pm.trace.root.setwriter(lambda msg: sys.stderr.write(str(msg)))
            self.pm.enable_tracing()

    # -- loading ---------------------------------------------------------------------------

    def _wanted(self, name: str) -> bool:
        return self._only is None or name in self._only

    def load(self) -> None:
        """Import and register every plugin once; later calls do nothing."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            for module_path in self._builtins:
                if not self._wanted(module_path):
                    continue
                origin = f"built-in ({module_path})"
                try:
                    module = importlib.import_module(module_path)
                except (Exception, SystemExit) as exc:  # a broken plugin must not break (or end) the rest
                    self._broken.append(BrokenPlugin(module_path, origin, _describe(exc)))
                    continue
                self._add(module, module_path, origin)
            if self._entry_points:
                for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                    if not self._wanted(ep.name):
                        continue
                    dist = getattr(ep, "dist", None)
                    origin = (
                        f"{dist.name} {dist.version}" if dist is not None else "entry point"
                    ) + f" (entry point {ep.name} = {ep.value})"
                    if self.pm.get_plugin(ep.name) is not None:
                        self._broken.append(
                            BrokenPlugin(ep.name, origin, "a plugin with this name is already loaded")
                        )
                        continue
                    try:
                        obj = ep.load()
                    except (Exception, SystemExit) as exc:
                        self._broken.append(BrokenPlugin(ep.name, origin, _describe(exc)))
                        continue
                    self._add(obj, ep.name, origin)

    def register_plugin(self, plugin: object, name: str | None = None, *, origin: str | None = None) -> None:
        """Register a plugin object at run time (a module or an object with hookimpls).

        Duplicate component names raise :class:`RegistrationError` naming both origins.
        """
        self.load()
        name = name or getattr(plugin, "__name__", None) or repr(plugin)
        with self._lock:
            before = len(self._broken), dict(self._conflicts)
            self._add(plugin, name, origin or f"registered at run time ({name})")
            if len(self._broken) > before[0]:
                raise RegistrationError(self._broken[-1].error)
            new = set(self._conflicts) - set(before[1])
            if new:
                kind, cname = sorted(new)[0]
                raise RegistrationError(self._conflict_message(kind, cname))

    def _add(self, plugin: object, name: str, origin: str) -> None:
        try:
            self.pm.register(plugin, name=name)
        except (Exception, SystemExit) as exc:
            self._broken.append(BrokenPlugin(name, origin, _describe(exc)))
            return
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        hooks = []
        for kind, hook_name in KINDS.items():
            caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
            if not caller.get_hookimpls():
                continue
            hooks.append(hook_name)
            try:
                caller(register=self._make_register(kind, name, origin))
            except (Exception, SystemExit) as exc:
                self._broken.append(BrokenPlugin(name, origin, f"{hook_name}: {_describe(exc)}"))
        self._plugins.append(PluginInfo(name, origin, tuple(hooks)))

    def _make_register(self, kind: str, plugin: str, origin: str) -> Callable[[str, Callable[..., Any]], None]:
        def register(name: str, factory: Callable[..., Any]) -> None:
            if not isinstance(name, str) or not _NAME_RE.match(name):
                raise RegistrationError(
                    f"invalid {kind} name {name!r} from {origin}: use lower-case letters, "
                    "digits, '-', '_' or '.'"
                )
            if not callable(factory):
                raise RegistrationError(f"{kind} {name!r} from {origin}: factory is not callable")
            existing = self._components[kind].get(name)
            if existing is not None:
                self._conflicts.setdefault((kind, name), [existing.origin]).append(origin)
                return
            self._components[kind][name] = Component(kind, name, factory, origin, plugin)

        return register

    def _conflict_message(self, kind: str, name: str) -> str:
        origins = self._conflicts[(kind, name)]
        return (
            f"{kind} {name!r} is registered twice: by {origins[0]} and by {origins[1]}; "
            "uninstall one of them or restrict loading with FENNEC_PLUGINS"
        )

    # -- lookup ----------------------------------------------------------------------------

    def available(self, kind: str, pattern: str = "*") -> list[str]:
        """Names registered for ``kind`` matching the glob ``pattern``, naturally sorted."""
        _check_kind(kind)
        self.load()
        names = [n for n in self._components[kind] if fnmatch.fnmatchcase(n, pattern)]
        return sorted(names, key=_natural_key)

    def get(self, kind: str, name: str) -> Component:
        """The registered :class:`Component` for ``kind``/``name``."""
        _check_kind(kind)
        self.load()
        if (kind, name) in self._conflicts:
            raise RegistrationError(self._conflict_message(kind, name))
        try:
            return self._components[kind][name]
        except KeyError:
            known = ", ".join(self.available(kind)) or "(none)"
            broken = "".join(f"; broken plugin {b.plugin}: {b.error}" for b in self._broken)
            raise UnknownComponentError(
                f"unknown {kind} {name!r}; known: {known}{broken}. "
                "Run `fennec plugins` to see every component."
            ) from None

    def create(self, kind: str, name: str, **config: Any) -> Any:
        """Build the component ``name`` of ``kind`` with ``config`` (``None`` values dropped)."""
        component = self.get(kind, name)
        config = {k: v for k, v in config.items() if v is not None}
        try:
            return component.factory(**config)
        except FennecError:
            raise
        except (TypeError, ValueError) as exc:  # e.g. k="abc": int() fails in the factory
            raise UnknownComponentError(
                f"bad config for {kind} {name!r} ({component.origin}): {one_line(exc)}"
            ) from exc
        except (Exception, SystemExit) as exc:
            raise PluginError(f"{kind} {name!r} ({component.origin}) failed to build: {_describe(exc)} "
                              "(a problem in that plugin; --debug shows the traceback)") from exc

    def label(self, kind: str, name: str) -> str:
        """``factorizer 'pmf' (built-in (...))``: a component named with its origin, for messages."""
        try:
            return f"{kind} {name!r} ({self.get(kind, name).origin})"
        except FennecError:
            return f"{kind} {name!r}"

    def build(self, kind: str, name: str, config: dict[str, Any] | None = None, **defaults: Any) -> Any:
        """Create a component and check it follows its kind's required contract.

        ``defaults`` (the engine's ``device`` and ``seed``) are passed only where the
        factory's signature takes them; ``config`` always is, and wins over them.
        """
        import inspect

        from fennec_core.plugin.contracts import REQUIRED

        try:
            params = inspect.signature(self.get(kind, name).factory).parameters
        except (TypeError, ValueError):
            params = {}
        obj = self.create(kind, name, **{**{k: v for k, v in defaults.items() if k in params}, **(config or {})})
        required = REQUIRED.get(kind)
        if required is not None and not isinstance(obj, required):
            missing = [m for m, v in vars(required).items() if callable(v) and not m.startswith("_") and not hasattr(obj, m)]
            raise UnknownComponentError(
                f"{kind} {name!r} ({self.get(kind, name).origin}) does not follow the {required.__name__} contract: "
                f"it lacks {', '.join(missing) or 'a required method'} (see fennec_core.plugin.contracts)"
            )
        return obj

    def components(self) -> list[Component]:
        """Every registered component, grouped by kind."""
        self.load()
        return [c for kind in KINDS for c in sorted(self._components[kind].values(), key=lambda c: _natural_key(c.name))]

    def broken(self) -> list[BrokenPlugin]:
        """Plugins that failed to import or register, plus name conflicts."""
        self.load()
        conflicts = [
            BrokenPlugin(f"{kind}:{name}", " and ".join(origins), self._conflict_message(kind, name))
            for (kind, name), origins in self._conflicts.items()
        ]
        return list(self._broken) + conflicts

    def plugins(self) -> list[PluginInfo]:
        """Every loaded plugin with its origin and hooks."""
        self.load()
        return list(self._plugins)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit: it called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {one_line(exc)}"


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry the module-level functions use (created lazily)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Registry()
        return _default


def reset() -> None:
    """Forget the default registry so the next lookup reloads plugins (for tests)."""
    global _default
    with _default_lock:
        _default = None


def available(kind: str, pattern: str = "*") -> list[str]:
    """Names of the registered components of ``kind`` (glob ``pattern`` filters them)."""
    return default_registry().available(kind, pattern)


def create(kind: str, name: str, **config: Any) -> Any:
    """Build component ``name`` of ``kind``; unknown names fail listing the known ones."""
    return default_registry().create(kind, name, **config)


def broken() -> list[BrokenPlugin]:
    """Plugins that failed to load, with their errors (the rest keep working)."""
    return default_registry().broken()


def components() -> list[Component]:
    """Every registered component of every kind."""
    return default_registry().components()


def plugins() -> list[PluginInfo]:
    """Every loaded plugin with its origin."""
    return default_registry().plugins()
