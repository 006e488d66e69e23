"""What a server process holds: its zoos (each engine with the proxies it built), a cache of answers.

:class:`ZooSet` keeps one loaded engine per served zoo as an immutable :class:`ServedZoo`
snapshot. A request takes the current snapshot and keeps it to the end, so replacing it (after
a write, or a reload) never disturbs a request in flight. Before answering, :meth:`ZooSet.get`
compares the store's ``zarr.json`` (inode, mtime, size: one ``stat``) with the snapshot's;
when another process rewrote the store (its generation changed) the zoo is loaded again, and
requests that arrive meanwhile wait for it, so every request that starts after a write, in any
worker, sees it. :meth:`ZooSet.add_results` loads the newest store under its cross-process
writer lock, folds the results in (:meth:`fennec_core.Fennec.update`), saves atomically and
swaps the snapshot.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import attrs

from fennec_core.errors import FennecError, InputError
from fennec_core.serve.errors import NotFoundError
from fennec_core.serve.settings import ZooSpec

Stamp = tuple[int, int, int]


def store_stamp(path: str) -> Stamp | None:
    """(inode, mtime in ns, size) of the store's ``zarr.json``: changes with every write (a write
    swaps in a new folder), or None while the store is missing (mid-swap)."""
    try:
        st = os.stat(Path(path) / "zarr.json")
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@attrs.frozen(eq=False)
class ServedZoo:
    """One zoo as loaded at one generation of its store; never changed once made."""

    spec: ZooSpec
    engine: Any  #: a loaded :class:`fennec_core.Fennec`, only ever read
    generation: str | None
    stamp: Stamp | None
    loaded_at: float

    @property
    def name(self) -> str:
        """The zoo's name in URLs."""
        return self.spec.name


class LRU:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value cached under ``key``, or None."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        """Cache ``value`` under ``key``, dropping the least recently used beyond ``size``."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def _load(spec: ZooSpec, device: str, before: ServedZoo | None = None) -> ServedZoo:
    """Load the zoo of ``spec`` and warm it up (the first ranking builds caches); a zoo loaded
    again keeps the proxies its ``before`` snapshot built (the text model loads once)."""
    from fennec_core.engine import Fennec
    from fennec_core.io.store import current_generation

    stamp = store_stamp(spec.path)  # read before the store: a write meanwhile only means one more reload
    generation = current_generation(spec.path)
    engine = Fennec.load(spec.path, device=device)
    if before is not None:
        engine.encoders = before.engine.encoders
    engine.resolved_warm_strength()  # resolved (and stored) already: then ranking never changes the engine
    engine.rank(None, top=1)
    return ServedZoo(spec, engine, generation, stamp, time.time())


class ZooSet:
    """The served zoos of one process, each reloaded when its store changes (see the module)."""

    def __init__(self, specs: Sequence[ZooSpec], *, device: str = "cpu") -> None:
        self.device = device
        self.specs = {s.name: s for s in specs}
        self._zoos = {s.name: _load(s, device) for s in specs}
        self._reload = {s.name: threading.Lock() for s in specs}
        self._write = {s.name: threading.Lock() for s in specs}

    def load_text(self) -> None:
        """Load the text model of every zoo that can place a description now (a server warms it
        up at start), through the one path a request takes."""
        from fennec_core.task.proxies import described_tasks
        from fennec_core.task.request import description_encoder

        for served in self._zoos.values():
            if len(described_tasks(served.engine.zoo_)) >= 2:
                description_encoder(served.engine).embed(["load the model"])

    def names(self) -> list[str]:
        """The served zoos' names, in the order given."""
        return list(self.specs)

    def spec(self, name: str) -> ZooSpec:
        """The spec of the zoo called ``name``; NotFoundError listing the served ones otherwise."""
        spec = self.specs.get(name)
        if spec is None:
            raise NotFoundError(f"no zoo called {name!r} is served here; served zoos: {', '.join(self.specs)} "
                                "(GET /zoos)")
        return spec

    def fresh(self, name: str) -> ServedZoo | None:
        """The current snapshot of zoo ``name`` when its store is unchanged (one ``stat``), else None."""
        current = self._zoos[self.spec(name).name]
        stamp = store_stamp(current.spec.path)
        return current if stamp is None or stamp == current.stamp else None

    def get(self, name: str) -> ServedZoo:
        """The current snapshot of zoo ``name``, loaded again first when its store changed."""
        spec = self.spec(name)
        current = self._zoos[name]
        stamp = store_stamp(spec.path)
        if stamp is None or stamp == current.stamp:
            return current
        with self._reload[name]:  # one thread reloads; the others wait for it, then see the new zoo
            current = self._zoos[name]
            if store_stamp(spec.path) == current.stamp:
                return current
            from fennec_core.io.store import current_generation

            if current_generation(spec.path) == current.generation:  # touched, not rewritten
                self._zoos[name] = current = attrs.evolve(current, stamp=store_stamp(spec.path))
                return current
            try:
                self._zoos[name] = current = _load(spec, self.device, current)
            except FennecError:  # a store that cannot be read now: keep serving the zoo as it was
                return current
        return current

    def add_results(self, name: str, rows: Sequence[tuple[str, str, float]], cards: Sequence[Any], *,
                    refit_threshold: float = 2.0) -> tuple[dict[str, Any], ServedZoo]:
        """Fold measured ``(model, task, score)`` rows (and new tasks' cards) into zoo ``name``:
        load its newest store under the writer lock, update, save atomically, swap the snapshot.
        Returns (the update report, the new snapshot)."""
        from fennec_core.engine import Fennec
        from fennec_core.io.catalog import check_writable
        from fennec_core.io.store import current_generation, store_lock
        from fennec_core.records import History

        spec = self.spec(name)
        check_writable(spec.path, "zoo")  # a bundled zoo is served from its copy in the data dir when writable
        new = History.from_long(rows)
        known = set(new.task_ids)
        stray = [c.id for c in cards if c.id not in known]
        if stray:
            raise InputError(f"tasks: {stray[0]!r} has no result in `results`; describe only tasks you add results for")
        with self._write[name], store_lock(spec.path):
            engine = Fennec.load(spec.path, device=self.device)
            engine.encoders = self._zoos[name].engine.encoders
            report = engine.update(new, tasks=list(cards) or None, refit_threshold=refit_threshold)
            engine.save(spec.path)
            engine.rank(None, top=1)
            snapshot = ServedZoo(spec, engine, current_generation(spec.path), store_stamp(spec.path), time.time())
            with self._reload[name]:
                self._zoos[name] = snapshot
        return report, snapshot
