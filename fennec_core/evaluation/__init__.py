"""Evaluation above the engine: protocols, metrics, baselines, reports.

``evaluate(engine, history, protocol=...)`` runs leave-one-task-out (cold or warm) or
leave-one-model-out for an engine's configuration and reports every number beside the static
baseline. The engine never imports this package.
"""

from fennec_core.evaluation.protocols import (
    EvaluationReport,
    evaluate,
    fit_without_task,
    static_scores,
)
from fennec_core.evaluation.search import SearchReport, evaluate_search

__all__ = ["EvaluationReport", "SearchReport", "evaluate", "evaluate_search", "fit_without_task", "static_scores"]
