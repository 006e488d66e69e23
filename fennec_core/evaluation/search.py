"""The ``search:K`` protocol: a budget of K fine-tunes spent one at a time, per hidden task.

For each task (leave-one-task-out exactly as ``loo``: every fitted part refit without it via
:func:`fennec_core.evaluation.protocols.fit_without_task`; probe tasks never hidden), the
engine proposes one model (:meth:`Fennec.suggest` with ``strategy``, among the models observed
on the task), its true score is revealed and added to the known results (warm-start fold-in),
and it proposes again, K times. After each step k = 1..K:

``regret``        best true score on the task minus the best found in the first k picks;
``regret_share``  that regret divided by the task's range (max - min of its true scores);
``found_best``    1 when the best model is among the first k picks, else 0.

Beside it, with the same metrics: the *static* baseline's first k models (its order never
looks at the task, :func:`fennec_core.evaluation.protocols.static_scores`), the first k of
every other cold member of the baseline suite (:mod:`fennec_core.evaluation.baselines`:
static in each normalisation, card, size) and a *random* order (seeded, averaged over
``random_draws`` permutations). Per-step numbers are means over tasks. ``best`` is the suite
member with the lowest mean regret after K picks on the table (never chosen per task).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from fennec_core.errors import InputError
from fennec_core.evaluation.protocol_base import EvaluationInputs
from fennec_core.evaluation.protocols import fit_without_task, static_scores
from fennec_core.records import History, ModelCard, TaskCard

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.engine import Fennec

METHODS = ("fennec", "static", "random")
METRICS = ("regret", "regret_share", "found_best")


def step_metrics(found: Sequence[float], best: float, span: float) -> dict[str, list[float]]:
    """Per step k: regret ``best - max(found[:k])``, its share of ``span`` and whether it is 0."""
    running = np.maximum.accumulate(np.asarray(found, dtype=np.float64))
    regret = np.maximum(best - running, 0.0)
    share = regret / span if span > 0 else np.zeros_like(regret)
    return {"regret": regret.tolist(), "regret_share": share.tolist(), "found_best": (regret <= 0).astype(float).tolist()}


@attrs.frozen(eq=True)
class Pick:
    """One step of Fennec's search on a hidden task: the model it picked and its true score."""

    task: str
    step: int
    model: str
    truth: float


@attrs.frozen(eq=False)
class SearchReport:
    """Per-task and mean per-step metrics of Fennec's search, the static top-k and random order."""

    protocol: str
    k: int
    config: dict[str, Any]
    tasks: dict[str, dict[str, dict[str, list[float]]]]  # task -> method -> metric -> per step
    predictions: list[Pick]  # Fennec's picks, in task and step order
    #: the baseline suite members scored on every task (their top-k orders are methods in ``tasks``)
    baselines: tuple[str, ...] = ()

    def best(self) -> str:
        """The suite member with the lowest mean regret after K picks (``static`` without a suite)."""
        members = list(self.baselines) or ["static"]
        return members[int(np.argmin([self.mean(b, "regret")[-1] for b in members]))]

    def mean(self, method: str, metric: str) -> list[float]:
        """The mean over tasks of ``metric`` for ``method`` at each step 1..K."""
        if not self.tasks:
            return [math.nan] * self.k
        return np.mean([t[method][metric] for t in self.tasks.values()], axis=0).tolist()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: config, per-task and mean per-step metrics of each method (no picks)."""
        return {"protocol": self.protocol, "k": self.k, "config": self.config, "per_task": self.tasks,
                "mean": {m: {x: self.mean(m, x) for x in METRICS} for m in METHODS},
                "baselines": {b: {x: self.mean(b, x) for x in METRICS} for b in self.baselines},
                "best": self.best()}

    def format_table(self) -> str:
        """Plain text: one row per step, regret / share / found-best for fennec, static, the best
        baseline (when another member) and random; then each suite member's regret after K picks."""
        best = self.best()
        methods = ["fennec", "static", *([f"{best}"] if best != "static" else []), "random"]
        head = ["step"] + [f"{m} regret (share, found)" + (" [best]" if m == best else "") for m in methods]
        rows = [[str(s + 1)] + [f"{self.mean(m, 'regret')[s]:.4g} ({self.mean(m, 'regret_share')[s]:.1%}, "
                                f"{self.mean(m, 'found_best')[s]:.0%})" for m in methods] for s in range(self.k)]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"mean over {len(self.tasks)} hidden task(s); strategy {self.config.get('strategy')}; random: "
                     f"{self.config.get('random_draws')} seeded orders")
        if self.baselines:
            regret = {b: self.mean(b, "regret")[-1] for b in self.baselines}
            ours = self.mean("fennec", "regret")[-1]
            lines.append(f"regret after {self.k} picks, baseline suite (top-{self.k} of each): "
                         + ", ".join(f"{b} {v:.4g}" + (" *" if b == best else "") for b, v in regret.items())
                         + f"; fennec {ours:.4g}"
                         + (f" ({ours / regret[best]:.2f}x best)" if regret[best] > 0 else ""))
        return "\n".join(lines)

    def write_predictions(self, path: str | os.PathLike[str]) -> None:
        """Write ``task,step,model,truth`` for every pick of Fennec's search."""
        try:
            with open(path, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["task", "step", "model", "truth"])
                for p in self.predictions:
                    w.writerow([p.task, p.step, p.model, repr(p.truth)])
        except OSError as exc:
            raise InputError(f"{path}: cannot write the predictions here ({exc.strerror or exc}); give a writable "
                             "file path") from None


def evaluate_search(engine: Fennec, history: History, k: int, *, strategy: str = "ei",
                    models: Sequence[ModelCard] | None = None, tasks: Sequence[TaskCard] | None = None,
                    task_embeddings: Mapping[str, np.ndarray] | None = None, random_draws: int = 20,
                    progress: bool = False, jobs: int = 1) -> SearchReport:
    """Run ``search:k`` (see the module doc) for ``engine``'s configuration on ``history``: the
    same as ``evaluate(engine, history, protocol=f"search:{k}", ...)``. ``jobs``: folds run in
    that many worker processes (:mod:`fennec_core.evaluation.folds`), with the same report for any
    number."""
    from fennec_core.evaluation.protocols import evaluate

    return evaluate(engine, history, protocol=f"search:{k}", models=models, tasks=tasks,
                    task_embeddings=task_embeddings, progress=progress, jobs=jobs, strategy=strategy,
                    random_draws=random_draws)


def run_search(protocol: Any, data: EvaluationInputs, *, strategy: str = "ei", random_draws: int = 20) -> SearchReport:
    """The ``search:K`` protocol (K = ``protocol.k``) on prepared inputs: the folds of
    ``protocol.folds``, each run by :func:`_search_fold`."""
    from fennec_core.evaluation.folds import run_folds
    from fennec_core.scoring.acquisition import check_strategy

    strategy = check_strategy(strategy)
    engine, history, k = data.engine, data.history, protocol.k
    if len(history.task_ids) < 2:
        raise InputError(f"{protocol.name} hides one task at a time: it needs a history with at least 2 tasks")
    folds = protocol.folds(history, data.tasks)
    task_cards = {t.id: t for t in (data.tasks or [])}
    shared = (engine.clone(), history, k, strategy, data.models, list(task_cards.values()), data.task_embeddings,
              random_draws)
    done = run_folds(_search_fold, folds, jobs=data.jobs, progress=data.progress, desc=protocol.name, shared=shared)
    per_task = {task: metrics for (_, task), (metrics, _) in zip(folds, done, strict=True)}
    suite = tuple(b for b in (next(iter(per_task.values())) if per_task else {})
                  if b not in METHODS and all(b in t for t in per_task.values()))
    suite = ("static", *suite) if per_task else ()
    picks = [pick for _, rows in done for pick in rows]
    if not per_task:
        raise InputError(f"{protocol.name}: no task has {k + 1} observed models to search among; use a smaller K")
    config = {"factorizer": engine.factorizer, "score_merger": engine.score_merger, "seed": engine.seed,
              "strategy": strategy, "random_draws": random_draws, "candidates": "models observed on the task"}
    return SearchReport(protocol.name, k, config, per_task, picks, suite)


def _search_fold(engine: Fennec, history: History, k: int, strategy: str, models: Sequence[ModelCard] | None,
                 tasks: list[TaskCard], task_embeddings: Mapping[str, np.ndarray] | None, random_draws: int, j: int,
                 task: str) -> tuple[dict[str, dict[str, list[float]]], list[Pick]]:
    """One fold of ``search:k``: ``task`` (column ``j``) hidden, the engine refit, K picks (seeds
    ``[engine.seed, j, step]``), the static and random orders (seed ``[engine.seed, j, 7]``):
    (the per-method, per-step metrics of the task, Fennec's picks)."""
    truth, observed = history.column(task)
    obs = np.flatnonzero(observed)
    own = (task_embeddings or {}).get(task)
    fitted = fit_without_task(engine, history, task, models=models, tasks=tasks,
                              task_embeddings=task_embeddings if own is not None else None)
    card = {c.id: c for c in tasks}.get(task, TaskCard(task))
    score = {history.model_ids[i]: float(truth[i]) for i in obs}
    best, span = max(score.values()), max(score.values()) - min(score.values())
    known: dict[str, float] = {}
    picks = []
    for step in range(1, k + 1):
        s = fitted.suggest(card, known=known, strategy=strategy, batch=1, seed=[engine.seed, j, step],
                           candidates=list(score), task_embeddings=own)
        model = s.proposals[0].model
        known[model] = score[model]
        picks.append(Pick(task, step, model, score[model]))
    from fennec_core.evaluation.baselines import suite_scores

    train = history.without_task(task)
    cards = {c.id: c for c in tasks}
    suite = suite_scores(train, models={c.id: c for c in models or []},
                         tasks={t: c for t, c in cards.items() if t != task}, task=card,
                         normalization=engine.resolved_normalization, warm=False)
    suite["static"] = static_scores(train)

    def top_k(scores: np.ndarray) -> list[float]:
        order = obs[np.argsort(-np.nan_to_num(scores[obs], nan=-np.inf), kind="stable")][:k]
        return [truth[i] for i in order]

    rng = np.random.default_rng([engine.seed, j, 7])
    rand = [step_metrics([truth[i] for i in rng.permutation(obs)[:k]], best, span) for _ in range(random_draws)]
    return {
        "fennec": step_metrics(list(known.values()), best, span),
        **{name: step_metrics(top_k(scores), best, span) for name, scores in suite.items()},
        "random": {x: np.mean([r[x] for r in rand], axis=0).tolist() for x in METRICS},
    }, picks
