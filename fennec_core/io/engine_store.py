"""An engine to and from a Zarr store: encode its record; decode it, rebuild the components,
restore their state.

Kept out of :mod:`fennec_core.engine` so the engine class stays small; it receives the engine
class rather than importing it (no import cycle).
"""

from __future__ import annotations

import os
from typing import Any

from fennec_core.plugin.contracts import Stateful, supports


def load_engine(cls: Any, path: str | os.PathLike[str], *, device: str, registry: Any, ranker: str | None,
                pipeline: str) -> Any:
    """An engine of class ``cls`` holding the zoo saved at ``path`` (see :meth:`Fennec.load`):
    nothing is fitted, no code from the store runs; ``ranker`` picks the pipeline (``pipeline``)
    or a ranker the zoo holds trained. ``path`` and ``device`` are checked by the caller."""
    from fennec_core.io.manifest import validate_zoo_manifest
    from fennec_core.io.store import read_store
    from fennec_core.io.zoo_codec import decode, select_ranker, store_errors

    arrays, man = read_store(path)
    validate_zoo_manifest(str(path), man)  # every field the engine reads, before anything is built
    with store_errors(path):
        params, zoo = decode(arrays, man, str(path))
    params = params if ranker is None else select_ranker(params, zoo, ranker, pipeline, registry)
    with store_errors(path):
        eng = cls(**params, device=device, registry=registry)
        trained = zoo.rankers.get(eng.ranker)
        for component, state in ((eng.components.merger, zoo.merger_state),
                                 (eng.components.ranker, trained.state if trained else None)):
            if state is not None and supports(component, Stateful):
                component.load_state(state.arrays, state.attributes)
    eng.adopt(zoo, origin=(str(path), man.get("generation")))
    return eng


def save_engine(engine: Any, path: str | os.PathLike[str], origin: tuple[str, str | None] | None,
                ) -> tuple[str, str | None]:
    """Write ``engine``'s fitted zoo and settings to ``path`` (atomically; arrays and JSON only);
    returns the new origin (path, generation). ``origin``: where the engine was last loaded from
    or saved to: saving back there fails if another writer changed the store since."""
    from fennec_core.io.store import write_store
    from fennec_core.io.zoo_codec import encode

    arrays, manifest = encode(engine.check_is_fitted(), {**engine.get_params(),
                                                         "normalization": engine.resolved_normalization})
    last, generation = origin or (None, None)  # refuse to overwrite another writer's change
    return str(path), write_store(path, arrays, manifest, expect_generation=generation if last == str(path) else None)
