"""Evaluation above the engine: protocols, metrics, baselines, reports.

``evaluate(engine, history, protocol=...)`` runs any registered protocol (``loo``,
``loo-warm:K``, ``loo-model``, ``search:K``, or a third party's) for an engine's configuration
and reports every number beside the baseline suite. The engine never imports this package, and
importing it loads nothing until a name is used (the plugin registry imports its ``builtin``
module to register the protocols).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.evaluation.builtin import Loo, LooModel, LooWarm, Search
    from fennec_core.evaluation.protocol_base import EvaluationInputs, Prediction, ProtocolBase
    from fennec_core.evaluation.protocols import (
        EvaluationReport,
        evaluate,
        fit_without_task,
        static_scores,
    )
    from fennec_core.evaluation.runner import protocol_from_spec, protocol_usages, run_protocol
    from fennec_core.evaluation.search import Pick, SearchReport, evaluate_search

_LAZY = {
    "EvaluationReport": "fennec_core.evaluation.report",
    "evaluate": "fennec_core.evaluation.protocols",
    "fit_without_task": "fennec_core.evaluation.protocols",
    "static_scores": "fennec_core.evaluation.protocols",
    "SearchReport": "fennec_core.evaluation.search",
    "Pick": "fennec_core.evaluation.search",
    "evaluate_search": "fennec_core.evaluation.search",
    "EvaluationInputs": "fennec_core.evaluation.protocol_base",
    "Prediction": "fennec_core.evaluation.protocol_base",
    "ProtocolBase": "fennec_core.evaluation.protocol_base",
    "protocol_from_spec": "fennec_core.evaluation.runner",
    "protocol_usages": "fennec_core.evaluation.runner",
    "run_protocol": "fennec_core.evaluation.runner",
    "Loo": "fennec_core.evaluation.builtin",
    "LooWarm": "fennec_core.evaluation.builtin",
    "LooModel": "fennec_core.evaluation.builtin",
    "Search": "fennec_core.evaluation.builtin",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fennec_core.evaluation' has no attribute {name!r}")


__all__ = [
    "EvaluationInputs",
    "EvaluationReport",
    "Loo",
    "LooModel",
    "LooWarm",
    "Pick",
    "Prediction",
    "ProtocolBase",
    "Search",
    "SearchReport",
    "evaluate",
    "evaluate_search",
    "fit_without_task",
    "protocol_from_spec",
    "protocol_usages",
    "run_protocol",
    "static_scores",
]
