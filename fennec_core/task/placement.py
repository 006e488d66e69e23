"""Where a description places a new task: a task vector (with the mapping's error covariance)
and notes saying how much descriptions tell on this zoo, for :func:`fennec_core.task.request.place`.

A task described in words is placed by a mapping learned from the zoo's described tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fennec_core.plugin.contracts import PosteriorFactorizer, supports

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.zoo import FittedZoo

#: The note of a ranking whose task vector came from a description.
DESCRIPTION_NOTE = "task vector from the description (text proxy, mapped from the zoo's task descriptions)"


#: Below this share of the spread of the zoo's task vectors that the description mapping explains
#: (leave-one-task-out), a described ranking says it will stay close to the one with no information.
WEAK_DESCRIPTIONS = 0.05


def describe_placement(zoo: FittedZoo, factorizer: Any, description: str, *, mapping: str, seed: int,
                       proxy: Any) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """(task vector, its covariance or None, notes) of a task described in words, placed by
    ``mapping`` learned from the zoo's described tasks with the loaded text ``proxy``; the
    covariance (the mapping's leave-one-task-out error) only for a posterior factorizer. The
    notes say plainly when, leave-one-task-out, descriptions predict this zoo's tasks no better
    than the mean task (:data:`WEAK_DESCRIPTIONS`): then the ranking barely moves, and why."""
    from fennec_core.task.proxies import describe_task, described_tasks

    vector, fitted = describe_task(zoo, description, mapping=mapping, seed=seed, proxy=proxy)
    error = fitted.residual_cov()
    rows = [zoo.task_ids.index(t) for t in described_tasks(zoo)]
    spread = float(np.trace(np.atleast_2d(np.cov(np.asarray(zoo.factors.V)[rows].T)))) if len(rows) > 1 else 0.0
    explained = 1.0 - float(np.trace(error)) / spread if spread > 0 else 0.0
    notes = (DESCRIPTION_NOTE,)
    if explained < WEAK_DESCRIPTIONS:
        notes += (f"descriptions explain {explained:.0%} of how this zoo's tasks differ (leave-one-task-out): "
                  "expect a ranking close to the one with no information; known results move it more",)
    return vector, error if supports(factorizer, PosteriorFactorizer) else None, notes
