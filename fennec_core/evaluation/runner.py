"""One entry point for every evaluation protocol: parse its spec once, prepare the inputs, run it.

``fennec evaluate --protocol NAME[:ARGS]`` and :func:`fennec_core.evaluation.evaluate` both call
:func:`run_protocol`; neither knows which protocols exist. Protocols come from the registry
(``fennec_register_protocols``), built-in and third-party alike.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fennec_core.errors import InputError
from fennec_core.evaluation.protocol_base import EvaluationInputs

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from fennec_core.engine import Fennec
    from fennec_core.plugin.registry import Registry
    from fennec_core.records import History, ModelCard, TaskCard

KIND = "protocol"


def _registry(registry: Registry | None) -> Registry:
    from fennec_core.plugin.registry import default_registry

    return registry or default_registry()


def protocol_usages(registry: Registry | None = None) -> list[str]:
    """How each registered protocol is written (``loo``, ``loo-warm:K``, ...), in the registry's order."""
    reg = _registry(registry)
    return [getattr(reg.get(KIND, name).factory, "usage", "") or name for name in reg.available(KIND)]


def protocol_from_spec(spec: Any, registry: Registry | None = None) -> Any:
    """The protocol object a spec ``NAME[:ARGS]`` names (``loo-warm:3``): the registered factory of
    ``NAME`` built with ``args="3"`` (no ``args`` when the spec has none). A protocol object is
    returned as it is; an unknown name or a bad argument is one InputError saying what exists."""
    if not isinstance(spec, str):
        from fennec_core.plugin.contracts import EvaluationProtocol

        if isinstance(spec, EvaluationProtocol):  # already a protocol object
            return spec
        raise InputError(f"protocol must be a spec such as 'loo' or 'loo-warm:3', got {spec!r}")
    reg = _registry(registry)
    name, sep, args = spec.partition(":")
    if name not in reg.available(KIND):
        if not reg.available(KIND):
            raise InputError(f"unknown protocol {spec!r}: no protocol is registered; the built-in ones come from the "
                             "plugin fennec_core.evaluation.builtin (add it to FENNEC_PLUGINS when restricting plugins)")
        raise InputError(f"unknown protocol {spec!r}; available: {', '.join(protocol_usages(reg))} "
                         "(K >= 1; `fennec evaluate --protocol list` describes each)")
    factory = reg.get(KIND, name).factory
    try:
        takes_args = "args" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes_args = True
    if sep and not takes_args:
        raise InputError(f"protocol {name!r} takes no argument (got {spec!r}); write --protocol {name}")
    return reg.build(KIND, name, {"args": args} if sep else ({"args": None} if takes_args else {}))


def check_options(protocol: Any, options: Mapping[str, Any], flags: Mapping[str, str] | None = None,
                  registry: Registry | None = None) -> None:
    """Refuse an option ``protocol`` does not take, naming the protocols that do; ``flags`` maps an
    option to how the caller spells it (``{"compare": "--baseline"}`` from the CLI)."""
    flags = flags or {}
    for key in options:
        if key in protocol.options:
            continue
        reg = _registry(registry)
        users = [u for n, u in zip(reg.available(KIND), protocol_usages(reg), strict=True)
                 if key in getattr(reg.get(KIND, n).factory, "options", ())]
        flag = flags.get(key, key)
        where = f"--protocol {' or '.join(users)}" if users else "no protocol"
        raise InputError(f"{flag} goes with {where} (got --protocol {protocol.name})" if flag.startswith("--")
                         else f"option {flag!r} goes with {where.replace('--protocol ', '')}, not {protocol.name}")


def prepare_inputs(engine: Fennec, history: History | str | os.PathLike[str] | None = None, *,
                   models: Sequence[ModelCard] | None = None, tasks: Sequence[TaskCard] | None = None,
                   task_embeddings: Mapping[str, np.ndarray] | None = None, progress: bool = False,
                   jobs: int = 1) -> EvaluationInputs:
    """The inputs every protocol runs on. ``history``: a History or CSV path; None evaluates on the
    engine's fitted zoo (its history, cards and task embeddings unless given). Model cards with an
    ``architecture`` get its meta features where they lack them, once here, as in ``fit``."""
    from fennec_core.evaluation.folds import check_jobs

    check_jobs(jobs)
    if history is None:
        zoo = engine.check_is_fitted()
        history = zoo.history
        models = models if models is not None else list(zoo.models.values())
        tasks = tasks if tasks is not None else list(zoo.tasks.values())
        task_embeddings = task_embeddings if task_embeddings is not None else (zoo.task_embeddings or None)
    else:
        from fennec_core.io.tables import as_history

        history = as_history(history)
    if models is not None:
        from fennec_core.architecture.encoding import ArchiSpec
        from fennec_core.io.tables import as_cards

        models, _ = ArchiSpec(None).apply(as_cards(models, "models"), progress=progress)
    return EvaluationInputs(engine, history, models, tasks, task_embeddings, progress, jobs)


def run_protocol(protocol: Any, engine: Fennec, history: History | str | os.PathLike[str] | None = None, *,
                 models: Sequence[ModelCard] | None = None, tasks: Sequence[TaskCard] | None = None,
                 task_embeddings: Mapping[str, np.ndarray] | None = None, progress: bool = False, jobs: int = 1,
                 flags: Mapping[str, str] | None = None, **options: Any) -> Any:
    """Run ``protocol`` (a spec such as ``loo-warm:3`` or a protocol object) for ``engine``'s
    configuration and return its report. ``options`` (``repeats``, ``compare``, ``strategy``,
    ...) go to the protocol's ``run``; one it does not take is refused before any fold runs.
    The engine's registry (else the global one) resolves the spec."""
    registry = engine.registry
    proto = protocol_from_spec(protocol, registry)
    check_options(proto, options, flags, registry)
    data = prepare_inputs(engine, history, models=models, tasks=tasks, task_embeddings=task_embeddings,
                          progress=progress, jobs=jobs)
    return proto.run(data, **options)
