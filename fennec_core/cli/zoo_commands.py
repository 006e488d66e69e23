"""``fennec zoos`` (the bundled catalog) and ``fennec zoo info`` (what one zoo holds)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from fennec_core.cli.format import print_table


def load_zoo(args: argparse.Namespace):  # -> Fennec
    """The zoo ``--zoo`` names (a bundled zoo's name or a store path; default: the default zoo), loaded
    with the ``--ranker`` asked for, if any."""
    from fennec_core.engine import Fennec
    from fennec_core.io.catalog import resolve

    return Fennec.load(resolve(args.zoo), device=getattr(args, "device", "auto"), ranker=getattr(args, "ranker", None))


def cmd_zoos(args: argparse.Namespace) -> int:
    """List the bundled zoos: name, models, tasks, observed cells, source, licence, credit."""
    from fennec_core.io import catalog

    entries = [catalog.summary(catalog.get(name)) for name in catalog.names()]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    rows = [[e["name"] + (" (default)" if e["default"] else ""), str(e["models"]), str(e["tasks"]),
             str(e["observed"]), e["licence"], e["source"]] for e in entries]
    print_table(["zoo", "models", "tasks", "observed", "licence", "source"], rows)
    print()
    for e in entries:
        print(f"{e['name']}: {e['title']}. Credit: {e['credit']}.")
    return 0


def zoo_document(engine: Any, ref: str | None, *, all_models: bool) -> dict[str, Any]:
    """What a fitted zoo holds (:func:`fennec_core.io.summary.zoo_summary`, as the server sends it),
    with where it comes from; the first 10 models unless ``all_models``."""
    from fennec_core.io import catalog
    from fennec_core.io.summary import zoo_summary

    summary = zoo_summary(engine)
    entry = catalog.bundled_entry(catalog.resolve(ref))
    models = summary["model_table"]["items"]
    return {"zoo": entry.name if entry else str(ref), "credit": entry.credit if entry else None, **summary,
            "task_table": summary["task_table"]["items"], "model_table": models if all_models else models[:10],
            "model_table_complete": all_models or len(models) <= 10}


def cmd_zoo_info(args: argparse.Namespace) -> int:
    """Show what a zoo holds: counts, settings, every task with its card, and its models."""
    doc = zoo_document(load_zoo(args), args.zoo, all_models=args.models)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"zoo {doc['zoo']}: {doc['models']} models x {doc['tasks']} tasks, {doc['observed']} observed results"
          + (f", {doc['models_without_history']} models without history (predicted from features)"
             if doc["models_without_history"] else ""))
    print(f"fitted with {doc['factorizer']} (k={doc['k']}), {doc['normalization']} normalisation, "
          f"merger {doc['score_merger']}" + (f", ranker {doc['ranker']}" if doc["ranker"] else "")
          + (f"; task proxy {doc['task_proxy']} ({len(doc['tasks_with_embeddings'])} tasks embedded)"
             if doc["task_proxy"] else ""))
    print(f"model features: {', '.join(doc['model_features']) or 'none'}")
    if doc["credit"]:
        print(f"data: {doc['credit']}")
    print()
    print_table(["task", "models", "classes", "train size", "description"],
                [[t["task"], str(t["observed_models"]), _opt(t["num_classes"]), _opt(t["train_size"]),
                  _short(t["description"] or "-", 90)] for t in doc["task_table"]])
    print()
    shown = doc["model_table"]
    print_table(["model", "tasks", "architecture"],
                [[m["model"], str(m["observed_tasks"]) + (" (predicted)" if m["predicted"] else ""),
                  m["architecture"] or "-"] for m in shown])
    if not doc["model_table_complete"]:
        print(f"... {doc['models'] - len(shown)} more models (`fennec zoo info --models` lists all, `--json` too)")
    return 0


def _opt(x: Any) -> str:
    return "-" if x is None else str(x)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
