"""Intervals for a task the zoo has not seen (issue 15, item 1, in part): the uncertainty of its
unknown units is in them, known scores set the units, and accuracies stay in [0, 1]."""

from __future__ import annotations

import numpy as np

from fennec_core import Fennec
from fennec_core.evaluation import fit_without_task
from fennec_core.io import catalog


def test_cold_intervals_cover_most_hidden_cells_of_the_bundled_zoo():
    # before: 112 of 735 hidden cells (15%) inside the "90%" interval; now 614 (84%)
    zoo_engine = Fennec.load(catalog.get("pytorchcv105").path, device="cpu")
    zoo = zoo_engine.zoo_
    inside = total = 0
    for task in zoo.task_ids:
        engine = fit_without_task(zoo_engine, zoo.history, task, models=list(zoo.models.values()),
                                  tasks=list(zoo.tasks.values()))
        ranking = engine.rank(zoo.tasks[task])
        truth, observed = zoo.history.column(task)
        pos = {m: i for i, m in enumerate(ranking.model_ids)}
        for i, m in enumerate(zoo.history.model_ids):
            if observed[i]:
                k = pos[m]
                inside += ranking.parts["low"][k] <= truth[i] <= ranking.parts["high"][k]
                total += 1
    assert 0.8 <= inside / total <= 0.97


def test_known_scores_set_the_units_and_accuracy_is_bounded():
    engine = Fennec.load(catalog.get("pytorchcv105").path, device="cpu")
    # a new task scored far below the zoo's tasks: its units come from the known scores
    ranking = engine.rank(known={"resnet50": 0.60, "regnety006": 0.65, "mobilenet_w1": 0.55})
    pred = dict(zip(ranking.model_ids, ranking.parts["predicted"], strict=True))
    assert abs(pred["resnet50"] - 0.60) < 0.06 and np.median(ranking.parts["predicted"]) < 0.75
    # a task of the zoo with scores above its range: accuracies stay in [0, 1]
    p = engine.rank(engine.zoo_.tasks["sport"], known={"resnet50": 0.999, "regnety006": 0.9995}).parts
    assert np.all((p["low"] >= 0) & (p["high"] <= 1) & (p["low"] <= p["predicted"]) & (p["predicted"] <= p["high"]))
