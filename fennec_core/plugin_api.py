"""What plugins may use from Fennec's core besides their contract: the one public helper module.

A plugin imports from ``fennec_core`` only ``hookimpl``, the records it is handed
(:mod:`fennec_core.records`, :mod:`fennec_core.zoo`), :mod:`fennec_core.errors`,
:mod:`fennec_core.device`, the plugin package (:mod:`fennec_core.plugin`: contracts, registry),
this module, the base of image proxies (:mod:`fennec_core.task.proxy_base`) and, for an evaluation
protocol, :mod:`fennec_core.evaluation`. Everything else in the core may change without notice
(``tests/test_layout.py`` holds the built-in plugins to this).

Here: the ranking metrics reports use (so a plugin that tunes itself scores rankings the way
Fennec is judged), the meta model's feature helpers (so a ranker standardises model features
as the meta model does) and the op vocabulary of architecture graphs (so a graph encoder
one-hot encodes nodes in the same basis as the built-in ones).
"""

from __future__ import annotations

from fennec_core.architecture.graph import OP_VOCABULARY
from fennec_core.metrics import pearson, weighted_tau
from fennec_core.scoring.meta_score import feature_matrix, feature_moments

#: The core modules a plugin may import, exactly.
PLUGIN_API: tuple[str, ...] = (
    "fennec_core", "fennec_core.errors", "fennec_core.records", "fennec_core.zoo", "fennec_core.device",
    "fennec_core.plugin", "fennec_core.plugin.contracts", "fennec_core.plugin.registry", "fennec_core.plugin_api",
    "fennec_core.task.proxy_base", "fennec_core.evaluation", "fennec_core.evaluation.protocol_base",
)

__all__ = ["PLUGIN_API", "OP_VOCABULARY", "feature_matrix", "feature_moments", "pearson", "weighted_tau"]
