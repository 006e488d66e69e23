"""``fennec next``: which model(s) to fine-tune next for a task, given the results measured so far."""

from __future__ import annotations

import argparse
import json

from fennec_core.cli.format import say


def cmd_next(args: argparse.Namespace) -> int:
    """Propose the next model(s) to fine-tune (``Fennec.suggest``), one line each plus a reason line."""
    from fennec_core.cli.task_inputs import task_request
    from fennec_core.scoring.acquisition import check_strategy

    check_strategy(args.strategy)  # before loading anything
    engine, request = task_request(args)
    known = request.known
    zoo_models = engine.zoo_.history.model_ids
    if known and set(zoo_models) <= set(known):  # valid input with a plain answer: nothing to propose
        if args.json:
            print(json.dumps({"proposals": [], "known": len(known), "note": "every model has a known result"}))
        else:
            print(f"every one of the zoo's {len(zoo_models)} models has a known result: nothing left to propose")
        return 0
    result = engine.suggest(request, strategy=args.strategy, batch=args.batch, seed=args.seed)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    best = result.best_known
    print(f"{len(result.known)} known result(s)" + (f", best {best[1]:.4g} ({best[0]})" if best else "")
          + f"; strategy {result.strategy}" + (f"; batch by {result.batch_method}" if len(result.proposals) > 1 else ""))
    for line in result.format_lines():
        print(line)
    for note in result.notes:
        say(args, f"note: {note}")
    return 0
