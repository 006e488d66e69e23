"""The task proxies (text and image encoders) an engine uses, each built once and kept.

A proxy loads a large model on first use (seconds), so an engine builds each one once, through
its own registry (:meth:`fennec_core.plugin.registry.Registry.build`, which checks the
:class:`~fennec_core.plugin.contracts.TaskProxy` contract), and every later ranking reuses it.
A server hands the same :class:`Encoders` to every engine it loads, so a reloaded zoo keeps the
loaded model. Calls into one proxy are serialised (a proxy loads its model lazily).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any


class RegistryBuilder:
    """``build(name, config)``: a task proxy built and checked by ``registry`` (None: the process's
    default registry, looked up when needed), given the engine's ``device`` and ``seed`` where its
    factory takes them. A plain object, so an engine pickles (evaluation folds on Dask workers)."""

    def __init__(self, registry: Any, *, device: str, seed: int) -> None:
        self.registry, self.device, self.seed = registry, device, seed

    def __call__(self, name: str, config: dict[str, Any]) -> Any:
        from fennec_core.plugin.registry import default_registry

        return (self.registry or default_registry()).build("task_proxy", name, config, device=self.device,
                                                           seed=self.seed)


class Encoders:
    """Task proxies built by ``build(name, config)`` (the engine's registry), one per (name, config)."""

    def __init__(self, build: Callable[[str, dict[str, Any]], Any]) -> None:
        self._build = build
        self._made: dict[str, Encoder] = {}
        self._lock = threading.Lock()
        self._memo: tuple[Hashable, dict[Hashable, Any]] | None = None

    def __getstate__(self) -> dict[str, Any]:  # a copy in another process builds its own proxies
        return {"build": self._build}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["build"])  # type: ignore[misc]

    def get(self, name: str, config: Mapping[str, Any] | None = None) -> Encoder:
        """The proxy ``name`` with ``config``, built on the first request for it."""
        key = json.dumps([name, dict(config or {})], sort_keys=True, default=str)
        with self._lock:
            made = self._made.get(key)
            if made is None:
                made = self._made[key] = Encoder(self._build(name, dict(config or {})), name, dict(config or {}))
            return made

    def built(self) -> list[str]:
        """Names of the proxies built so far (one entry per configuration)."""
        with self._lock:
            return [m.proxy_name for m in self._made.values()]

    def memo(self, scope: Hashable, key: Hashable, make: Callable[[], Any]) -> Any:
        """``make()`` computed once per ``key`` while ``scope`` (a fitted zoo) stays the same: what
        a proxy made from the same input on the same zoo (a description's placement) is kept."""
        with self._lock:
            if self._memo is None or self._memo[0] is not scope:
                self._memo = (scope, {})
            table = self._memo[1]
        if key not in table:
            value = make()
            with self._lock:
                if len(table) >= 1024:
                    table.clear()
                table[key] = value
        return table[key]


class Encoder:
    """One built task proxy; ``embed`` calls are serialised, ``spec`` and ``modality`` read it."""

    def __init__(self, proxy: Any, name: str, config: Mapping[str, Any]) -> None:
        self.proxy, self.proxy_name, self.config = proxy, name, dict(config)
        self._lock = threading.Lock()

    @property
    def modality(self) -> str:
        """What the proxy embeds: ``"text"`` or ``"images"`` (read from the proxy object)."""
        from fennec_core.plugin.contracts import proxy_modality

        return proxy_modality(self.proxy)

    def spec(self) -> dict[str, Any]:
        """What a zoo records about the proxy (its ``spec()``)."""
        from fennec_core.plugin.contracts import proxy_spec

        return proxy_spec(self.proxy, self.proxy_name, self.config)

    def embed(self, inputs: Any) -> Any:
        """The proxy's embeddings of ``inputs``, one call at a time."""
        with self._lock:
            return self.proxy.embed(inputs)
