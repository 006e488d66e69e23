"""Evaluation reports: per-task metrics of a method beside the baseline suite, and how they
are shown (text table, JSON, predictions CSV). Built by :mod:`fennec_core.evaluation.protocols`."""

from __future__ import annotations

import csv
import math
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from fennec_core.errors import InputError
from fennec_core.metrics import format_metric, metric_label

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.evaluation.protocol_base import Prediction


@attrs.frozen(eq=False)
class TaskResult:
    """Metrics of the method and the static baseline on one hidden task."""

    task: str
    n_models: int
    method: dict[str, float]
    static: dict[str, float]
    cold: bool
    #: the 90% intervals on the hidden cells, where the ranking has them: ``cells`` (counted over
    #: repeats), ``coverage`` (share of true scores inside) and ``width`` (mean, task units)
    intervals: dict[str, float] = attrs.field(factory=dict)
    #: every suite member that applied to the task: name -> its metrics on the same cells
    baselines: dict[str, dict[str, float]] = attrs.field(factory=dict)


@attrs.frozen(eq=False)
class EvaluationReport:
    """Per-task and mean metrics of one method beside the baseline suite, plus predictions.

    ``baseline``: the classic baseline kept in ``TaskResult.static`` (``static``, or ``feature
    regression`` for ``loo-model``). ``compare``: what gains are reported against -- ``best``
    (the suite member with the best mean, per metric) or a member's name.
    """

    protocol: str
    config: dict[str, Any]
    tasks: list[TaskResult]
    #: one :class:`~fennec_core.evaluation.protocol_base.Prediction` per hidden cell (and draw)
    predictions: list[Prediction]
    baseline: str = "static"
    compare: str = "best"

    def mean(self, which: str = "method") -> dict[str, float]:
        """Mean of each metric over tasks (NaN-aware) for ``method``, ``static`` or a suite member."""
        names = list(self.tasks[0].method) if self.tasks else []
        if which in ("method", "static"):
            runs = [getattr(t, which) for t in self.tasks]
        else:
            if which not in self.suite():
                raise InputError(f"no baseline {which!r} in this report; it has: {', '.join(self.suite()) or 'none'}")
            runs = [t.baselines[which] for t in self.tasks]
        out = {}
        for n in names:
            vals = [r[n] for r in runs]
            vals = [v for v in vals if not math.isnan(v)]
            out[n] = float(np.mean(vals)) if vals else math.nan
        return out

    def suite(self) -> list[str]:
        """The suite members scored on every task of the report (in suite order)."""
        if not self.tasks:
            return []
        return [b for b in self.tasks[0].baselines if all(b in t.baselines for t in self.tasks)]

    def best(self, metric: str) -> str:
        """The suite member with the best mean ``metric`` on this table (lowest for regret);
        ``baseline`` when the report has no suite (``loo-model``). Ties go to the first member."""
        members = self.suite()
        if not members:
            return self.baseline
        sign = -1.0 if metric.startswith("regret") else 1.0
        values = [sign * self.mean(b)[metric] for b in members]
        values = [-math.inf if math.isnan(v) else v for v in values]
        return members[int(np.argmax(values))]

    def reference(self, metric: str) -> str:
        """The baseline gains on ``metric`` are measured against: ``compare`` (``best``
        resolved per metric), or ``baseline`` when the report has no suite."""
        if not self.suite():
            return self.baseline
        if self.compare == "best":
            return self.best(metric)
        if self.compare not in self.suite():
            raise InputError(f"baseline {self.compare!r} is not in this report's suite; choose best or one of: "
                             f"{', '.join(self.suite())}")
        return self.compare

    def reference_values(self, metric: str) -> tuple[str, list[float], float]:
        """(name, per-task values, mean) of the reference baseline on ``metric``."""
        name = self.reference(metric)
        key = "static" if name == self.baseline and not self.suite() else name
        per = [t.static[metric] if key == "static" else t.baselines[key][metric] for t in self.tasks]
        return name, per, self.mean(key)[metric]

    def with_compare(self, compare: str) -> EvaluationReport:
        """This report with gains against ``compare`` (``best`` or a suite member's name)."""
        out = attrs.evolve(self, compare=compare)
        if self.suite():
            out.reference(next(iter(self.tasks[0].method)))  # an unknown name fails here, once
        return out

    def interval_summary(self) -> dict[str, float] | None:
        """The 90% intervals pooled over every hidden cell of every task: ``cells``, ``coverage``
        (share inside), ``width`` (mean, task units), ``tasks_in_80_97`` (share of tasks whose own
        coverage is in [0.8, 0.97]); None when the rankings had no intervals."""
        rows = [t.intervals for t in self.tasks if t.intervals]
        cells = sum(r["cells"] for r in rows)
        if not cells:
            return None
        return {"cells": cells,
                "coverage": sum(r["coverage"] * r["cells"] for r in rows) / cells,
                "width": sum(r["width"] * r["cells"] for r in rows) / cells,
                "tasks_in_80_97": float(np.mean([0.8 <= r["coverage"] <= 0.97 for r in rows]))}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no predictions): per task and mean for the method, ``static`` and
        every suite member; ``best`` (member per metric), ``compare`` and ``gain`` (method minus
        the reference baseline's mean, per metric)."""
        metrics = list(self.tasks[0].method) if self.tasks else []
        method = self.mean("method")
        refs = {m: self.reference(m) for m in metrics}
        return {
            "protocol": self.protocol,
            "baseline": self.baseline,
            "compare": self.compare,
            "config": self.config,
            "per_task": {t.task: {"n_models": t.n_models, "cold": t.cold, "method": t.method, "static": t.static,
                                  **({"baselines": t.baselines} if t.baselines else {}),
                                  **({"intervals": t.intervals} if t.intervals else {})}
                         for t in self.tasks},
            "mean": {"method": method, "static": self.mean("static"),
                     **({"baselines": {b: self.mean(b) for b in self.suite()}} if self.suite() else {})},
            "best": {m: self.best(m) for m in metrics} if self.suite() else {},
            "reference": refs,
            "gain": {m: method[m] - self.reference_values(m)[2] for m in metrics},
            "intervals": self.interval_summary(),
        }

    def format_table(self) -> str:
        """A plain-text table: per task and mean, each metric as method / reference baseline
        (``best`` per metric unless ``compare`` names one), then the suite's means."""
        metrics = list(self.tasks[0].method) if self.tasks else []
        refs = {m: self.reference_values(m) for m in metrics}
        head = ["task", "n"] + [f"{metric_label(m)} (fennec/{refs[m][0]})" for m in metrics]
        rows = [[t.task, str(t.n_models), *[f"{format_metric(t.method[m], m)} / {format_metric(refs[m][1][i], m)}"
                                             for m in metrics]] for i, t in enumerate(self.tasks)]
        mean = self.mean("method")
        rows.append(["mean", "", *[f"{format_metric(mean[m], m)} / {format_metric(refs[m][2], m)}" for m in metrics]])
        lines = _columns([head, *rows])
        members = self.suite()
        if members:
            lines.append("")
            suite_rows = [["baseline suite (mean)", "", *[metric_label(m) for m in metrics]]]
            best = {m: self.best(m) for m in metrics}
            for b in members:
                means = self.mean(b)
                suite_rows.append([b, "", *[format_metric(means[m], m) + (" *" if best[m] == b else "")
                                            for m in metrics]])
            suite_rows.append(["fennec", "", *[format_metric(mean[m], m) for m in metrics]])
            lines.extend(_columns(suite_rows))
            gains = ", ".join(f"{metric_label(m)} {mean[m] - refs[m][2]:+.{1 if m == 'pearson' else 3}f} vs "
                              f"{refs[m][0]}" for m in metrics)
            lines.append(f"* best baseline per metric on this table; fennec's gain: {gains}")
        summary = self.interval_summary()
        if summary is not None:
            lines.append(f"90% intervals: {summary['coverage']:.1%} of {summary['cells']} hidden cells inside, mean "
                         f"width {summary['width']:.4g} (task units)")
        return "\n".join(lines)

    def write_predictions(self, path: str) -> None:
        """Write ``model,task,predicted,truth,low,high,score,static`` for every hidden cell (``repeat``
        too when the protocol repeats draws): ``predicted``, ``low``, ``high`` in the task's units
        (empty where the ranking has none), ``score`` the ranking's own (normalised) score,
        ``static`` the baseline's."""
        warm = any(p.repeat is not None for p in self.predictions)

        def cell(x: float) -> str:
            return "" if math.isnan(x) else repr(x)

        try:
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["model", "task", "predicted", "truth", "low", "high", "score", "static"]
                           + (["repeat"] if warm else []))
                for p in self.predictions:
                    w.writerow([p.model, p.task, cell(p.predicted), repr(p.truth), cell(p.low), cell(p.high),
                                repr(p.score), repr(p.static)] + ([p.repeat] if warm else []))
        except OSError as exc:
            raise InputError(f"{path}: cannot write the predictions here ({exc.strerror or exc}); give a writable "
                             "file path") from None


def _columns(rows: list[list[str]]) -> list[str]:
    """Rows of cells as aligned text lines, a rule under the first."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines
