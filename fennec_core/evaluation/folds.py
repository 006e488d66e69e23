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

On a cluster: with a Dask scheduler's address (``scheduler=`` or the :func:`dask_scheduler`
block; ``fennec evaluate --scheduler tcp://host:8786``), the folds run as Dask tasks on its
workers, at most ``jobs`` at a time, and come back in fold order with the same numbers: a
worker process runs one fold at a time (a lock; the thread limits above are per process), each
single-threaded as here. Every worker needs the same Fennec and plugins installed.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from fennec_core.errors import FennecError, InputError, MissingDependencyError, one_line

T = TypeVar("T")

#: The joblib backend of :func:`run_folds` (processes: a fold is mostly Python-level work
#: that a thread backend would serialise on the GIL).
BACKEND = "loky"
#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = 10

_scheduler: ContextVar[str | None] = ContextVar("fennec_fold_scheduler", default=None)
_fold_lock = threading.Lock()


@contextlib.contextmanager
def dask_scheduler(address: str | None) -> Iterator[None]:
    """Inside the block, evaluation folds run on the Dask cluster at ``address``
    (``tcp://host:8786``; None: locally), like joblib's ``parallel_config`` for its backends:

    >>> with dask_scheduler("tcp://10.0.0.5:8786"):  # doctest: +SKIP
    ...     report = evaluate(engine, history, jobs=32)
    """
    token = _scheduler.set(check_scheduler(address))
    try:
        yield
    finally:
        _scheduler.reset(token)


def check_scheduler(address: Any) -> str | None:
    """``address`` as a Dask scheduler address (``tcp://``, ``tls://``, ``inproc://``, ``ucx://`` or
    ``host:port``), or None; anything else is one InputError."""
    if address is None:
        return None
    if not isinstance(address, str) or not address.strip() or (
            "://" not in address and ":" not in address):
        raise InputError(f"scheduler must be a Dask scheduler address such as tcp://host:8786, got {address!r}")
    return address.strip()


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
              desc: str = "folds", shared: tuple[Any, ...] = (), scheduler: str | None = None) -> list[T]:
    """``[fn(*shared, *fold) for fold in folds]``, each call :func:`single_threaded`, in fold order.

    ``jobs`` (:func:`check_jobs`): 1 runs the folds here, one after another; more runs them in
    that many worker processes (never more than there are folds). ``fn`` must then be a
    module-level function and its arguments picklable; ``shared`` (the engine, the history,
    the cards) are the arguments every fold has in common. ``progress``: a bar over the folds.
    ``scheduler`` (default: the enclosing :func:`dask_scheduler`): a Dask scheduler's address;
    the folds then run on its workers, at most ``jobs`` at a time (-1: all at once).
    """
    from tqdm.auto import tqdm

    scheduler = check_scheduler(scheduler) or _scheduler.get()
    workers = min(check_jobs(jobs), len(folds))
    bar: Callable[[Iterable[T]], Iterable[T]] = lambda it: tqdm(  # noqa: E731 - the one progress bar
        it, total=len(folds), desc=desc, disable=not progress, leave=False)
    if scheduler is None and workers <= 1:
        return list(bar(single_threaded(fn, *shared, *fold) for fold in folds))
    import pickle

    where = "Dask workers" if scheduler else "worker processes"
    try:  # once, here: a clear error instead of a broken worker pool
        pickle.loads(pickle.dumps(shared))
    except Exception as exc:
        raise InputError(f"jobs={jobs}: the arguments every fold shares (the engine, the history, the cards) cannot "
                         f"be sent to {where} ({type(exc).__name__}: {exc}); use jobs=1 (an engine built "
                         "with a registry of its own, for one, does not pickle)") from None
    if scheduler is not None:
        in_flight = len(folds) if jobs == -1 else workers
        return _dask_folds(fn, folds, shared, scheduler, in_flight, bar)
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=workers, backend=BACKEND, return_as="generator")
    return list(bar(parallel(delayed(single_threaded)(fn, *shared, *fold) for fold in folds)))


def _one_fold(fn: Callable[..., T], *args: Any) -> T:
    """One fold on a Dask worker: one at a time per process (the thread limits are per process)."""
    with _fold_lock:
        return single_threaded(fn, *args)


def _dask_folds(fn: Callable[..., T], folds: Sequence[tuple[Any, ...]], shared: tuple[Any, ...], scheduler: str,
                in_flight: int, bar: Callable[[Iterable[T]], Iterable[T]]) -> list[T]:
    """The folds as Dask tasks on ``scheduler``'s workers, ``in_flight`` at a time, in fold order."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise MissingDependencyError("--scheduler runs the folds on Dask: pip install 'dask[distributed]' (on this "
                                     "machine and every worker)") from None
    try:
        client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"scheduler {scheduler}: no Dask scheduler answers ({one_line(exc, 200)}); start one "
                         "(`dask scheduler`, then `dask worker ADDRESS --nthreads 1` per core) or check the "
                         "address") from None
    results: dict[int, T] = {}
    try:
        shared_futures = client.scatter(list(shared), broadcast=True) if shared else []
        pending = iter(enumerate(folds))

        index: dict[str, int] = {}

        def submit(i: int, fold: tuple[Any, ...]) -> Any:
            future = client.submit(_one_fold, fn, *shared_futures, *fold, pure=False)
            index[future.key] = i
            return future

        first = [submit(*nxt) for nxt in (next(pending, None) for _ in range(in_flight)) if nxt is not None]
        queue = as_completed(first, loop=client.loop)

        def drain() -> Iterator[T]:
            for future in queue:
                i = index[future.key]
                try:
                    results[i] = future.result()
                except FennecError:
                    raise
                except Exception as exc:
                    raise FennecError(f"a fold failed on the Dask cluster at {scheduler} ({type(exc).__name__}: "
                                      f"{one_line(exc, 200)}); every worker needs the same Fennec and plugins "
                                      "installed as here") from None
                nxt = next(pending, None)
                if nxt is not None:
                    queue.add(submit(*nxt))
                yield results[i]

        for _ in bar(drain()):
            pass
    finally:
        client.close()
    return [results[i] for i in range(len(folds))]
