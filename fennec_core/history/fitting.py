"""Fitting a zoo from a history: normalise, choose ``k``, factorize, fit the meta model.

The result is a :class:`fennec_core.zoo.FittedZoo` without merger or ranker state; the engine
fits those components on it next (they see the record, not the engine).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from fennec_core.errors import InputError
from fennec_core.history.factorize import factorize
from fennec_core.history.normalize import TaskNormalizer
from fennec_core.records import Factors, History, ModelCard, TaskCard
from fennec_core.table import scatter
from fennec_core.zoo import FittedZoo


def fold_in_reference(factorizer: Any, factors: Factors, history: History, normalizer: TaskNormalizer,
                      max_tasks: int = 50) -> float:
    """Median RMSE of existing tasks folded in as if new: what a fold-in usually leaves.

    ``update`` compares the fold-in residual of new cells with this (``refit_threshold`` x it).
    Uses the first ``max_tasks`` tasks with at least two observed cells' columns.
    """
    errs = []
    for j in range(min(history.shape[1], max_tasks)):
        rows, z = normalizer.column(history, j)
        if rows.size < 2:
            continue
        col, obs = scatter(history.shape[0], rows, z)
        v = factorizer.fold_in(factors, col, obs)
        errs.append(float(np.sqrt(np.mean((factors.U[obs] @ v - col[obs]) ** 2))))
    return float(np.median(errs)) if errs else 0.0


def normalized_cells(history: History, normalizer: TaskNormalizer) -> np.ndarray:
    """The history's observed cells in normalised units (in the order of ``history.values``);
    one error when a task's scores overflow."""
    with np.errstate(over="ignore", invalid="ignore"):
        z = normalizer.transform_cells(history.cols, history.values)
    if not np.all(np.isfinite(z)):
        raise InputError("the history's scores overflow when normalised; rescale them (e.g. to accuracies in "
                         "[0, 1]) or drop extreme cells")
    return z


#: Seconds of work before a progress bar appears ("no progress for waits over a second").
PROGRESS_DELAY = 1.0


@contextlib.contextmanager
def stage_bar(stages: Sequence[str], show: bool, desc: str = "fit",
              delay: float | None = None) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr over named stages: the function it yields is called with each
    stage's name as the stage begins. Shown only with ``show`` and once the work has taken
    ``delay`` seconds (default :data:`PROGRESS_DELAY`; a quick fit, or one that fails at once,
    prints nothing); the elapsed time then ticks while a stage runs."""
    if not show:
        yield lambda name: None
        return
    import threading
    import time

    from tqdm.auto import tqdm

    delay = PROGRESS_DELAY if delay is None else delay
    start, lock, done = time.time(), threading.Lock(), threading.Event()
    state: dict[str, Any] = {"bar": None, "n": -1, "name": ""}

    def draw() -> None:  # under the lock: the bar once ``delay`` has passed, then its refresh
        if state["bar"] is None and time.time() - start >= delay:
            bar = tqdm(total=len(stages), initial=max(state["n"], 0), leave=False, delay=1e9,
                       desc=f"{desc}: {state['name']}" if state["name"] else desc,
                       bar_format="{desc} ({n_fmt}/{total_fmt}) [{elapsed}]")  # delay: not drawn yet
            bar.delay, bar.start_t = 0.0, start  # drawn from now on, its clock from the start
            state["bar"] = bar
        if state["bar"] is not None:
            state["bar"].refresh()

    def begin(name: str) -> None:
        with lock:
            state["n"], state["name"] = state["n"] + 1, name
            if state["bar"] is not None:
                state["bar"].n = state["n"]
                state["bar"].set_description_str(f"{desc}: {name}", refresh=False)
            draw()

    def tick() -> None:
        while not done.wait(0.25):
            with lock:
                try:
                    draw()
                except (OSError, ValueError):  # stderr closed or gone: stop drawing, the fit goes on
                    return

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield begin
    finally:
        done.set()
        ticker.join()
        if state["bar"] is not None:
            state["bar"].close()


def fit_zoo(
    history: History,
    models: Mapping[str, ModelCard],
    tasks: Mapping[str, TaskCard],
    *,
    factorizer: Any,
    make_factorizer: Callable[[dict[str, Any]], Any],
    factorizer_config: Mapping[str, Any],
    normalization: str,
    use_meta: bool,
    seed: int,
    guard: AbstractContextManager[Any] | None = None,
    progress: bool = False,
    **record: Any,
) -> tuple[FittedZoo, Any]:
    """(the fitted zoo, the factorizer that fitted it) for ``history`` and its cards.

    ``factorizer`` fits the history; with ``k="auto"`` in ``factorizer_config`` the latent
    size is cross-validated on held-out cells first (:mod:`fennec_core.history.choose_k`) and
    ``make_factorizer(config)`` builds the factorizer with the chosen ``k``, which is returned.
    ``record``: further FittedZoo fields carried as given (task embeddings, proxy, archi,
    predicted models). ``guard``: a context around the factorizer's own code that turns its
    unexpected errors into one error naming it (:func:`fennec_core.errors.plugin_errors`).
    ``progress``: a bar on stderr naming each stage (choosing k, factorizing, the meta model).
    """
    k = factorizer_config.get("k")
    with stage_bar([*(["choose k"] if k == "auto" else []), "factorize", *(["meta model"] if use_meta else [])],
                   progress) as stage:
        return _fit(history, models, tasks, factorizer=factorizer, make_factorizer=make_factorizer,
                    factorizer_config=factorizer_config, normalization=normalization, use_meta=use_meta, seed=seed,
                    guard=guard, stage=stage, **record)


def _fit(history: History, models: Mapping[str, ModelCard], tasks: Mapping[str, TaskCard], *, factorizer: Any,
         make_factorizer: Callable[[dict[str, Any]], Any], factorizer_config: Mapping[str, Any], normalization: str,
         use_meta: bool, seed: int, guard: AbstractContextManager[Any] | None, stage: Callable[[str], None],
         **record: Any) -> tuple[FittedZoo, Any]:
    normalizer = TaskNormalizer.fit_history(history, normalization)
    z = normalized_cells(history, normalizer)
    k = factorizer_config.get("k")
    m, n = history.shape
    if not isinstance(k, bool) and isinstance(k, int | np.integer) and k > min(m, n):
        raise InputError(f"factorizer k={k} is larger than the history allows ({m} models x {n} tasks): use k <= "
                         f"{min(m, n)}, or k=auto")
    k_selection = None
    with guard or contextlib.nullcontext():
        if k == "auto":
            from fennec_core.history.choose_k import select_k

            stage("choose k")
            best, scores = select_k(lambda k: make_factorizer({**factorizer_config, "k": k}), history, z, seed=seed)
            k_selection = {"k": best, "cv_rmse": {str(k): v for k, v in scores.items()}}
            factorizer = make_factorizer({**factorizer_config, "k": best})
        stage("factorize")
        factors = factorize(factorizer, history, z)
        factors.info["fold_in_reference_rmse"] = fold_in_reference(factorizer, factors, history, normalizer)
    zoo = FittedZoo(history=history, models=models, tasks=tasks, normalizer=normalizer, factors=factors,
                    k_selection=k_selection, **record)
    if use_meta:
        stage("meta model")
        zoo = zoo.with_changes(meta_model=zoo.fit_meta())
    return zoo, factorizer
