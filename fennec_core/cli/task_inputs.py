"""The new task as ``fennec rank`` and ``fennec next`` take it: the zoo, the task card, known results,
and what places the task (``--images``, ``--embeddings``, ``--describe``), read from the arguments."""

from __future__ import annotations

import argparse
from typing import Any

from fennec_core.errors import InputError


def read_one_embedding(path: str) -> Any:
    """A new task's embeddings: an .npy [n_items, d] array (loaded without pickle)."""
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"--embeddings {path}: not a readable .npy array ({exc})") from None
    if getattr(arr, "ndim", 0) != 2:
        raise InputError(f"--embeddings {path}: expected a [n_items, d] array")
    return arr


def _check_new_task(args: argparse.Namespace, task_ids: list[str]) -> None:
    """A ``--task`` id the zoo does not have, with nothing else known about the task, is most likely
    a typo (``flowers`` for ``flower``): one error naming the closest ids, unless ``--new-task``."""
    import difflib

    informed = [o for o in ("known", "images", "embeddings", "describe", "num_classes", "train_size", "probes")
                if getattr(args, o, None) is not None]
    if informed:
        return
    close = difflib.get_close_matches(args.task, task_ids, n=5, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else f"its tasks include {', '.join(task_ids[:5])}"
    raise InputError(f"--task {args.task}: not a task of this zoo ({hint}); to rank a new task with nothing known "
                     "about it (the zoo-wide ranking), pass --new-task, or describe it with --known, --describe, "
                     "--images, --embeddings or --num-classes")


def task_request(args: argparse.Namespace) -> tuple[Any, Any]:
    """(loaded engine, the :class:`fennec_core.task.request.TaskRequest` to place on it) from ``--zoo``,
    ``--task``, ``--num-classes``, ``--train-size``, ``--known``, ``--images``, ``--embeddings``,
    ``--describe``, ``--card``: the CLI only reads them; :func:`fennec_core.task.request.place` places."""
    from fennec_core.cli.format import bars
    from fennec_core.cli.zoo_commands import load_zoo
    from fennec_core.task.cards import parse_card_values
    from fennec_core.task.request import TaskRequest

    engine = load_zoo(args)
    if args.task and args.task not in engine.zoo_.tasks and not getattr(args, "new_task", False):
        _check_new_task(args, list(engine.zoo_.tasks))
    card = parse_card_values(getattr(args, "card", None))
    known = None
    if args.known:
        from fennec_core.io.tables import read_known

        known = read_known(args.known)
    inputs = [o for o in ("images", "embeddings", "describe") if getattr(args, o)]
    if len(inputs) > 1:
        raise InputError(f"give one of --images, --embeddings, --describe (got {', '.join('--' + i for i in inputs)})")
    probes = None
    if getattr(args, "probes", None):
        from fennec_core.io.probe_tables import read_probes

        probes = read_probes(args.probes)
    return engine, TaskRequest(args.task, num_classes=args.num_classes, train_size=args.train_size, card=card or None,
                               known=known, images=args.images, images_per_task=args.images_per_task,
                               description=args.describe, progress=bars(args), probes=probes,
                               task_embeddings=read_one_embedding(args.embeddings) if args.embeddings else None)


def model_filter(args: argparse.Namespace) -> Any:
    """The :class:`fennec_core.scoring.filters.ModelFilter` of ``rank``'s ``--max-params``,
    ``--license``, ``--open-weights``, ``--min-max-tokens`` and ``--where`` (None when none is given)."""
    from fennec_core.scoring.filters import from_options

    made = from_options(max_params=getattr(args, "max_params", None), license=getattr(args, "license", None),
                        open_weights=getattr(args, "open_weights", False),
                        min_max_tokens=getattr(args, "min_max_tokens", None), where=getattr(args, "where", None))
    return made or None
