"""Running the folds of an evaluation: in order, in this process or in parallel workers.

Every fold of ``loo``, ``loo-warm:K`` and ``search:K`` is independent of the others: it refits a
clone of the engine without its task and draws its random choices from seeds made of the
engine's seed and the fold's index only. :func:`run_folds` runs them one after another
(``jobs=1``) or in ``jobs`` joblib worker processes (the ``loky`` backend), and returns their
results in fold order either way.

The same report for any ``jobs``: each fold runs with one BLAS thread and one torch thread
(:func:`single_threaded`), in the main process as in a worker. That also keeps two workers
from each starting a thread per core (four busy threads on two cores), and on a machine whose
cores are shared one thread per fold is the faster choice anyway: the arrays of a fold are
small (a few thousand models x k), and waking threads for each small product costs more than
it saves. Threads that differ in number could sum in another order; these cannot.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from fennec_core.errors import InputError

T = TypeVar("T")

#: The joblib backend of :func:`run_folds` (processes: a fold is mostly Python-level work
#: that a thread backend would serialise on the GIL).
BACKEND = "loky"


def check_jobs(jobs: Any) -> int:
    """``jobs`` as a whole number of workers: >= 1, or negative counting back from the cores as
    joblib does (-1 = every core, -2 = all but one); 0 and non-integers are an InputError."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0:
        raise InputError(f"jobs must be a whole number >= 1, or -1 for every core (-2 all but one, ...), got {jobs!r}")
    if jobs > 0:
        return jobs
    return max(1, (os.cpu_count() or 1) + 1 + jobs)


def single_threaded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` with one BLAS thread (threadpoolctl) and one torch thread, restored
    after: one fold's work, the same in the main process and in a worker (see the module doc)."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            return fn(*args, **kwargs)
    finally:
        torch.set_num_threads(before)


def run_folds(fn: Callable[..., T], folds: Sequence[tuple[Any, ...]], *, jobs: int = 1, progress: bool = False,
              desc: str = "folds", shared: tuple[Any, ...] = ()) -> list[T]:
    """``[fn(*shared, *fold) for fold in folds]``, each call :func:`single_threaded`, in fold order.

    ``jobs`` (:func:`check_jobs`): 1 runs the folds here, one after another; more runs them in
    that many worker processes (never more than there are folds). ``fn`` must then be a
    module-level function and its arguments picklable; ``shared`` (the engine, the history,
    the cards) are the arguments every fold has in common. ``progress``: a bar over the folds.
    """
    from tqdm.auto import tqdm

    workers = min(check_jobs(jobs), len(folds))
    bar: Callable[[Iterable[T]], Iterable[T]] = lambda it: tqdm(  # noqa: E731 - the one progress bar
        it, total=len(folds), desc=desc, disable=not progress, leave=False)
    if workers <= 1:
        return list(bar(single_threaded(fn, *shared, *fold) for fold in folds))
    import pickle

    try:  # once, here: a clear error instead of a broken worker pool
        pickle.loads(pickle.dumps(shared))
    except Exception as exc:
        raise InputError(f"jobs={jobs}: the arguments every fold shares (the engine, the history, the cards) cannot "
                         f"be sent to worker processes ({type(exc).__name__}: {exc}); use jobs=1 (an engine built "
                         "with a registry of its own, for one, does not pickle)") from None
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=workers, backend=BACKEND, return_as="generator")
    return list(bar(parallel(delayed(single_threaded)(fn, *shared, *fold) for fold in folds)))
