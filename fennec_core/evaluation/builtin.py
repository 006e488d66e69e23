"""The built-in evaluation protocols, registered through ``fennec_register_protocols`` like a
third party's. Each class parses its argument and hands the work to the module that holds it
(:mod:`fennec_core.evaluation.protocols`, :mod:`fennec_core.evaluation.search`), imported only
when a protocol runs: loading the plugins (``fennec fit``, ``fennec rank``) imports this module and
:mod:`fennec_core.evaluation.protocol_base` only -- no folds, reports, baselines or metrics.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fennec_core import hookimpl
from fennec_core.evaluation.protocol_base import (
    EvaluationInputs,
    ProtocolBase,
    check_repeats,
    whole_arg,
)

if TYPE_CHECKING:  # pragma: no cover
    from fennec_core.evaluation.report import EvaluationReport
    from fennec_core.evaluation.search import SearchReport
    from fennec_core.records import History, TaskCard


class Loo(ProtocolBase):
    """Leave one task out: each target task hidden, every fitted part refit without it, the task
    ranked from its card (and its proxy embeddings, if any); the static baseline beside it."""

    usage = "loo"
    options = ("repeats", "compare")
    n_known = 0

    def folds(self, history: History, tasks: Sequence[TaskCard] | None) -> list[tuple[int, str]]:
        """The targets: tasks with ``n_known + 2`` observed models that are not probes."""
        from fennec_core.evaluation.protocols import loo_targets

        return loo_targets(history, tasks, self.n_known)

    def run(self, data: EvaluationInputs, *, repeats: int = 5, compare: str = "best") -> EvaluationReport:
        """Run the folds; ``repeats`` draws of known cells per target (1 without known cells);
        ``compare``: the baseline suite member gains are reported against."""
        from fennec_core.evaluation.protocols import run_loo

        repeats = check_repeats(repeats)
        return run_loo(self, data, repeats=repeats if self.n_known else 1, compare=compare)


class LooWarm(Loo):
    """Leave one task out with K seeded random cells of the hidden column known (warm start);
    metrics on the other cells, each target drawn --repeats times."""

    usage = "loo-warm:K"

    def __init__(self, args: str | None = None) -> None:
        self.n_known = whole_arg(args, self.usage, "known cells")

    @property
    def name(self) -> str:
        """``loo-warm:K`` with its K."""
        return f"loo-warm:{self.n_known}"


class LooModel(ProtocolBase):
    """Leave one model out: its row hidden and predicted from its features alone, beside a
    least-squares regression on the same features."""

    usage = "loo-model"
    options = ("repeats", "compare")

    def folds(self, history: History, tasks: Sequence[TaskCard] | None) -> list[tuple[int, str]]:
        """Every model of the history (one fold each)."""
        return list(enumerate(history.model_ids))

    def run(self, data: EvaluationInputs, *, repeats: int = 5, compare: str = "best") -> EvaluationReport:
        """Run the folds (``repeats`` is checked and unused: nothing is drawn)."""
        from fennec_core.evaluation.protocols import run_loo_model

        check_repeats(repeats)
        return run_loo_model(self, data, compare=compare)


class Search(ProtocolBase):
    """K fine-tunes spent one at a time per hidden task (leave one task out), regret per step
    beside the baseline suite's top-K and a random order (fennec_core.evaluation.search)."""

    usage = "search:K"
    options = ("strategy", "random_draws")

    def __init__(self, args: str | None = None) -> None:
        self.k = whole_arg(args, self.usage, "picks")

    @property
    def name(self) -> str:
        """``search:K`` with its K."""
        return f"search:{self.k}"

    def folds(self, history: History, tasks: Sequence[TaskCard] | None) -> list[tuple[int, str]]:
        """The targets: tasks with K + 1 observed models that are not probes."""
        from fennec_core.evaluation.protocols import loo_targets

        return loo_targets(history, tasks, self.k - 1)

    def run(self, data: EvaluationInputs, *, strategy: str = "ei", random_draws: int = 20) -> SearchReport:
        """Run the search with ``strategy`` (ei, ucb, thompson, greedy) beside ``random_draws``
        seeded random orders."""
        from fennec_core.evaluation.search import run_search

        return run_search(self, data, strategy=strategy, random_draws=random_draws)


class LooProbe(ProtocolBase):
    """Leave one task out, then estimator EST's probe scores of the top N models (all without N)
    revealed and fused with the history's ranking, beside the history alone and EST alone
    (fennec_core.evaluation.probe_protocol). ``--probes`` a long table model,task,estimator,score;
    without it, the history's probe tasks (cards with probe=1, e.g. mnli_lp)."""

    usage = "loo-probe:EST[:N]"
    options = ("probes", "compare")

    def __init__(self, args: str | None = None) -> None:
        from fennec_core.evaluation.probe_protocol import parse_probe_protocol

        self.estimator, self.top_n = parse_probe_protocol(f"loo-probe:{args or ''}")

    @property
    def name(self) -> str:
        """``loo-probe:EST`` or ``loo-probe:EST:N``."""
        return f"loo-probe:{self.estimator}" + (f":{self.top_n}" if self.top_n else "")

    def folds(self, history: History, tasks: Sequence[TaskCard] | None) -> list[tuple[int, str]]:
        """The candidate targets (tasks that are not probes; those without EST's scores are skipped)."""
        from fennec_core.evaluation.protocols import loo_targets

        return loo_targets(history, tasks, 0)

    def run(self, data: EvaluationInputs, *, probes: Any = None, compare: str = "best") -> EvaluationReport:
        """Run the folds; ``probes``: a CSV path or ``{task: {estimator: {model: score}}}`` (None:
        the history's probe tasks); ``compare``: the baseline gains are reported against."""
        from fennec_core.evaluation.probe_protocol import evaluate_probes
        from fennec_core.io.probe_tables import read_probe_table

        table = read_probe_table(probes) if isinstance(probes, str | os.PathLike) else probes
        report = evaluate_probes(data.engine, data.history, table, self.name, models=data.models, tasks=data.tasks,
                                 progress=data.progress)
        return report.with_compare(compare)


@hookimpl
def fennec_register_protocols(register: Any) -> None:
    """The built-in protocols: ``loo``, ``loo-warm:K``, ``loo-model``, ``search:K``, ``loo-probe:EST[:N]``."""
    register("loo", Loo)
    register("loo-warm", LooWarm)
    register("loo-model", LooModel)
    register("search", Search)
    register("loo-probe", LooProbe)
