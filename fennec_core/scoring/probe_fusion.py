"""The hook where probe scores enter a ranking: the merged score (normalised, the history's
prediction) is the prior, the posterior of :mod:`fennec_core.scoring.probes` replaces it before
the task's units and intervals are computed, so ``predicted``, ``low`` and ``high`` describe
the fused prediction (a probed model's predictive sd shrinks by its posterior's).

Parts added: ``history`` (the merged score before the probes) and ``probe`` (the normalised
result the probes indicate; NaN for an unprobed model).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.zoo import FittedZoo


def fuse_final(zoo: FittedZoo, final: np.ndarray, probes: Mapping[str, Mapping[str, float]],
               ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, str]:
    """(posterior scores (m,), parts to add, factor on each model's predictive sd, note) for the
    merged scores ``final`` of every model of ``zoo`` (storage order) given ``probes`` (checked by
    :func:`fennec_core.scoring.probes.check_probes`)."""
    from fennec_core.scoring.probes import fuse_scores

    mapping = zoo.probe_mapping.aligned(zoo.model_ids)  # type: ignore[union-attr]
    post, shown, shrink = fuse_scores(mapping, np.asarray(final, dtype=np.float64), probes)
    estimators = sorted({e for s in probes.values() for e in s})
    note = (f"probe scores of {len(probes)} model(s) ({', '.join(estimators)}) fused with the history's prediction "
            "(per-model posterior, mapping fitted on the zoo's tasks)")
    return post, {"history": np.asarray(final, dtype=np.float64), "probe": shown}, shrink, note
