"""The ``fennec`` command line.

Every user error is one line on stderr and exit code 2 (``--debug`` shows the traceback);
an unexpected internal error exits 1 and asks for ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

from fennec_core import __version__
from fennec_core.errors import FennecError, InputError

EXIT_USER = 2


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        return text


def _key_values(items: Sequence[str] | None, flag: str, example: str) -> dict[str, Any]:
    """``KEY=VALUE`` options (``--archi-config``, ``--proxy-config``) as a dict of parsed values."""
    config: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {example}")
        key, value = item.split("=", 1)
        config[key.strip().replace("-", "_")] = _parse_value(value)
    return config


def parse_config(items: Sequence[str]) -> dict[str, dict[str, Any] | Any]:
    """Parse ``--config KEY=VALUE`` items into engine keyword arguments.

    ``factorizer.k=5`` and ``score_merger.w=0.3`` go to the components' configs; plain keys
    (``normalization=zscore``, ``use_meta=false``, ``seed=1``) to the engine.
    """
    engine: dict[str, Any] = {}
    comps: dict[str, dict[str, Any]] = {"factorizer": {}, "score_merger": {}, "ranker": {}}
    allowed = {"normalization", "use_meta", "seed", "warm_strength", "task_mapping"}
    for item in items:
        if "=" not in item:
            raise InputError(f"--config {item!r}: expected KEY=VALUE, e.g. factorizer.k=5")
        key, value = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if "." in key:
            comp, sub = key.split(".", 1)
            if comp not in comps:
                raise InputError(f"--config {item!r}: unknown component {comp!r}; use factorizer.*, score_merger.* "
                                 "or ranker.*")
            comps[comp][sub] = _parse_value(value)
        elif key in allowed:
            engine[key] = _parse_value(value)
        else:
            raise InputError(f"--config {item!r}: unknown key {key!r}; use one of {', '.join(sorted(allowed))}, "
                             "factorizer.<option> or score_merger.<option>")
    return {**engine, "factorizer_config": comps["factorizer"], "score_merger_config": comps["score_merger"],
            "ranker_config": comps["ranker"]}


def _engine(args: argparse.Namespace):
    from fennec_core.engine import Fennec

    cfg = parse_config(args.config or [])
    names = {k: v for k, v in (("factorizer", args.factorizer), ("score_merger", args.score_merger),
                               ("ranker", getattr(args, "ranker", None))) if v}
    return Fennec(**names, device=args.device, **cfg)


def _print_table(headers: list[str], rows: list[list[str]], out: Any = None) -> None:
    out = out or sys.stdout
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def _say(args: argparse.Namespace, msg: str) -> None:
    if not args.quiet:
        print(msg, file=sys.stderr)


# -- commands ---------------------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace) -> int:
    """List every component by kind with its origin, and broken plugins with their errors."""
    from fennec_core import registry

    comps = registry.components()
    broken = registry.broken()
    if args.json:
        doc = {
            "components": {k: [{"name": c.name, "origin": c.origin, "plugin": c.plugin} for c in comps if c.kind == k]
                           for k in registry.KINDS},
            "plugins": [{"name": p.plugin, "origin": p.origin, "hooks": list(p.hooks)} for p in registry.plugins()],
            "broken": [{"plugin": b.plugin, "origin": b.origin, "error": b.error} for b in broken],
        }
        print(json.dumps(doc, indent=2))
        return 0
    rows = [[c.kind, c.name, c.origin] for c in comps]
    _print_table(["kind", "name", "origin"], rows)
    if broken:
        print("\nbroken plugins:")
        for b in broken:
            print(f"  {b.plugin} ({b.origin}): {b.error}")
    return 0


def _arch_cache(args: argparse.Namespace):
    from fennec_core.archgraph_io import ArchCache

    return None if getattr(args, "no_cache", False) else ArchCache()


def _model_cards(args: argparse.Namespace):
    """(models table with architecture features when --archi asks for them, the encoding or None)."""
    from fennec_core.tables import read_models

    if not args.models:
        if args.archi != "none":
            raise InputError("--archi needs --models with an `architecture` column (e.g. pytorchcv:resnet50)")
        return None, None
    cards = read_models(args.models)
    if args.archi == "none":
        return cards, None
    from fennec_core.archi import fit_architectures

    config = _key_values(args.archi_config, "--archi-config", "epochs=50")
    return fit_architectures(cards, encoder=args.archi, encoder_config=config, dims=args.archi_dims,
                             clusters=args.archi_clusters, progress=not args.quiet, cache=_arch_cache(args))


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit a zoo from a history CSV and save it as a Zarr store."""
    t0 = time.perf_counter()
    from fennec_core.tables import read_history

    history = read_history(args.history)
    cards, encoding = _model_cards(args)
    embeddings, proxy = _task_embeddings(args, list(history.task_ids))
    engine = _engine(args).fit(history, cards, args.tasks, task_embeddings=embeddings, proxy=proxy)
    engine.archi = encoding
    engine.save(args.out)
    m, n = engine.history.shape
    _say(args, f"fitted {m} models x {n} tasks ({engine.factorizer_name}, k={engine.factors.k}) "
               f"in {time.perf_counter() - t0:.2f} s; saved to {args.out}")
    return 0


def _load_zoo(args: argparse.Namespace):
    from fennec_core.bundled import bundled_zoo_path
    from fennec_core.engine import Fennec

    return Fennec.load(args.zoo or bundled_zoo_path(), device=args.device)


def _ranking_rows(ranking, truth: dict[str, float] | None = None) -> tuple[list[str], list[list[str]]]:
    """Table rows of a ranking: predicted score in the task's units with its 90% interval
    when the factorizer gives one, then the normalised final score and its parts."""
    p = ranking.parts
    shown = [k for k in ("transfer", "meta") if k in p]
    headers = ["rank", "model"]
    if "predicted" in p:
        headers.append("predicted")
    if "low" in p:
        headers.append("90% interval")
    headers += ["score", *shown] + (["truth"] if truth is not None else [])
    rows = []
    for r, mid in enumerate(ranking.model_ids):
        row = [str(r + 1), mid]
        if "predicted" in p:
            row.append(f"{p['predicted'][r]:.4g}")
        if "low" in p:
            row.append(f"[{p['low'][r]:.4g}, {p['high'][r]:.4g}]")
        row += [f"{ranking.scores[r]:.4f}", *[f"{p[k][r]:.4f}" for k in shown]]
        if truth is not None:
            row.append(f"{truth[mid]:.4g}" if mid in truth else "-")
        rows.append(row)
    return headers, rows


def cmd_rank(args: argparse.Namespace) -> int:
    """Rank the zoo's models for a new task."""
    from fennec_core.records import TaskCard

    engine = _load_zoo(args)
    card = engine.tasks.get(args.task) if args.task else None
    if args.task and card is None or args.num_classes or args.train_size:
        base = card or TaskCard(args.task or "new-task")
        card = TaskCard(base.id, args.num_classes or base.num_classes, args.train_size or base.train_size,
                        base.description, base.meta)
    known = None
    if args.known:
        from fennec_core.tables import read_known

        known = read_known(args.known)
    inputs = [o for o in ("images", "embeddings", "describe") if getattr(args, o)]
    if len(inputs) > 1:
        raise InputError(f"give one of --images, --embeddings, --describe (got {', '.join('--' + i for i in inputs)})")
    task_vector = None
    task_embeddings = None
    if args.describe and engine.ranker is not None:  # a learned ranker reads the description's embedding
        from fennec_core.proxies import make_proxy

        task_embeddings = make_proxy("text").embed(args.describe)
    elif args.describe:
        from fennec_core.proxies import describe_vector

        task_vector = describe_vector(engine, args.describe)
    elif args.images:
        if not engine.proxy or engine.proxy.get("name") == "external":
            raise InputError("this zoo has no task proxy to embed images with; fit it with --task-images DIR "
                             "(or give the new task's --embeddings computed like the zoo's)")
        from fennec_core.proxies import make_proxy

        config = {k: v for k, v in engine.proxy.get("config", {}).items() if k != "images_per_task"}
        proxy = make_proxy(engine.proxy["name"], {**config, "images_per_task": args.images_per_task,
                                                  "device": args.device, "progress": not args.quiet})
        task_embeddings = proxy.embed(args.images)
    elif args.embeddings:
        task_embeddings = _read_one_embedding(args.embeddings)
    ranking = engine.rank(card, known=known, top=args.top, explore=args.explore, task_vector=task_vector,
                          task_embeddings=task_embeddings)
    if args.describe:
        ranking.info.setdefault("notes", []).append(
            "task vector from the description (text proxy, mapped from the zoo's task descriptions)")
    elif task_embeddings is not None:
        ranking.info.setdefault("notes", []).append(
            f"task vector from {len(task_embeddings)} item embeddings ({engine.task_mapping} mapping)")
    if args.json:
        print(ranking.to_json(indent=2))
        return 0
    headers, rows = _ranking_rows(ranking)
    _print_table(headers, rows)
    for note in ranking.info.get("notes", []):
        _say(args, f"note: {note}")
    return 0


def _read_one_embedding(path: str) -> Any:
    """A new task's embeddings: an .npy [n_items, d] array (loaded without pickle)."""
    import numpy as np

    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"--embeddings {path}: not a readable .npy array ({exc})") from None
    if getattr(arr, "ndim", 0) != 2:
        raise InputError(f"--embeddings {path}: expected a [n_items, d] array")
    return arr


def _task_embeddings(args: argparse.Namespace, task_ids: list[str]):
    """(embeddings per historical task, proxy spec) from --task-images or --task-embeddings."""
    if args.task_images and args.task_embeddings:
        raise InputError("give --task-images or --task-embeddings, not both")
    if args.task_embeddings:
        from fennec_core.task_embeddings import read_embeddings_file

        emb = read_embeddings_file(args.task_embeddings)
        unknown = [t for t in emb if t not in task_ids]
        if unknown:
            raise InputError(f"--task-embeddings names task(s) not in the history, e.g. {unknown[0]!r}")
        return emb, {"name": "external", "config": {"file": os.path.basename(args.task_embeddings)}}
    if not args.task_images:
        return None, None
    from fennec_core.proxies import embed_task_folders, make_proxy, proxy_spec

    config = _key_values(args.proxy_config, "--proxy-config", "model=ViT-B-32")
    config.setdefault("images_per_task", args.images_per_task)
    proxy = make_proxy(args.proxy, {**config, "device": args.device, "progress": not args.quiet})
    emb = embed_task_folders(args.task_images, task_ids, proxy, progress=not args.quiet)
    return emb, proxy_spec(proxy, args.proxy, config)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a configuration on a history under a protocol, beside the static baseline."""
    from fennec_core.tables import read_history, read_tasks

    history = read_history(args.history)
    models, _ = _model_cards(args)
    tasks = read_tasks(args.tasks) if args.tasks else None
    embeddings = None
    if args.task_embeddings:
        from fennec_core.task_embeddings import read_embeddings_file

        embeddings = read_embeddings_file(args.task_embeddings)
    report = _engine(args).evaluate(history, protocol=args.protocol, models=models, tasks=tasks,
                                    progress=not args.quiet, repeats=args.repeats, task_embeddings=embeddings)
    if args.predictions:
        report.write_predictions(args.predictions)
        _say(args, f"wrote {len(report.predictions)} predictions to {args.predictions}")
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_table())
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    """Fold new tasks or models into a fitted zoo (full refit when needed) and save it."""
    from fennec_core.engine import Fennec
    from fennec_core.tables import read_models, read_tasks

    t0 = time.perf_counter()
    engine = Fennec.load(args.zoo)
    report = engine.update(args.history, models=read_models(args.models) if args.models else None,
                           tasks=read_tasks(args.tasks) if args.tasks else None,
                           refit_threshold=args.refit_threshold, force_refit=args.refit)
    engine.save(args.zoo)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        how = f"full refit ({report['reason']})" if report["refit"] else "fold-in, no refit"
        print(f"added {len(report['new_tasks'])} task(s), {len(report['new_models'])} model(s) by {how}; "
              f"saved to {args.zoo}")
    return 0


def cmd_add_model(args: argparse.Namespace) -> int:
    """Add models with no history: features from their architecture, vectors predicted."""
    from fennec_core.archi import describe_architecture
    from fennec_core.engine import Fennec
    from fennec_core.records import ModelCard

    engine = Fennec.load(args.zoo, device=args.device)
    if args.name and len(args.name) != len(args.model):
        raise InputError(f"give one --name per --model ({len(args.model)} models, {len(args.name)} names)")
    names = args.name or args.model
    cache = _arch_cache(args)
    graphs, cards = [], []
    for ref, name in zip(args.model, names, strict=True):
        graph, feats = describe_architecture(ref, name, cache=cache)
        graphs.append(graph)
        cards.append(ModelCard(name, ref, feats))
    if engine.archi is not None:  # the zoo was fitted with archi2vec features: encode in its basis
        extra = engine.archi.encode_new(graphs)
        cards = [ModelCard(c.id, c.architecture, {**c.meta, **e}) for c, e in zip(cards, extra, strict=True)]
    added = engine.add_models(cards)
    engine.save(args.out or args.zoo)
    _say(args, f"added {len(added)} model(s) with predicted vectors: {', '.join(added)}; saved to {args.out or args.zoo}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Hide one target of the bundled 105-model benchmark, rank, and compare with the truth."""
    from fennec_core.evaluation import static_scores
    from fennec_core.metrics import all_metrics

    t0 = time.perf_counter()
    zoo = _load_zoo(args)
    history = zoo.history
    task = args.task
    history.task_index(task)  # clear error for an unknown target
    truth_col, observed = history.column(task)
    engine = zoo.clone_unfitted().fit(history.without_task(task), list(zoo.models.values()),
                                      [c for c in zoo.tasks.values() if c.id != task])
    ranking = engine.rank(zoo.tasks[task])
    elapsed = time.perf_counter() - t0
    truth = {m: float(truth_col[i]) for i, m in enumerate(history.model_ids) if observed[i]}
    print(f"Hidden target: {task!r} ({len(truth)} models). Fennec fitted on the other "
          f"{len(history.task_ids) - 1} tasks and ranked without seeing it.\n")
    headers, rows = _ranking_rows(ranking.top(args.top), truth)
    _print_table(headers, rows)
    pos = {m: i for i, m in enumerate(ranking.model_ids)}
    pred = [ranking.scores[pos[m]] for m in history.model_ids]
    static = static_scores(history.without_task(task))
    fm = all_metrics(truth_col[observed], __import__("numpy").asarray(pred)[observed])
    sm = all_metrics(truth_col[observed], static[observed])
    print()
    _print_table(["metric", "fennec", "static baseline"],
                 [[k, f"{fm[k]:.3f}", f"{sm[k]:.3f}"] for k in fm])
    best = max(truth, key=truth.get)
    print(f"\nbest true model: {best} ({truth[best]:.4f}); done in {elapsed:.2f} s")
    for note in ranking.info.get("notes", []):
        _say(args, f"note: {note}")
    return 0


def cmd_evaluate_scores(args: argparse.Namespace) -> int:
    """Weighted tau of precomputed transferability scores against fine-tuning truth."""
    from fennec_core.evaluation import evaluate_scores

    result = evaluate_scores(args.scores, args.truth, dataset_col=args.dataset_col, model_col=args.model_col)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    datasets = sorted({d for r in result.values() for d in r["per_dataset"]})
    rows = [[m, *[f"{r['per_dataset'].get(d, float('nan')):.3f}" for d in datasets], f"{r['mean']:.3f}"]
            for m, r in result.items()]
    _print_table(["method", *datasets, "mean"], rows)
    return 0


def cmd_build_history(args: argparse.Namespace) -> int:
    """Score every model on every task folder with an estimator, on Dask; resumable."""
    from pathlib import Path

    from fennec_core.history_builder import build_history

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if len(models) == 1 and Path(models[0]).is_file():
        models = [ln.strip() for ln in Path(models[0]).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    if not models:
        raise InputError("--models is empty; give model references (timm:resnet50,...) or a file with one per line")
    report = build_history(models, args.tasks, args.out, estimator=args.estimator, scheduler=args.scheduler,
                           n_workers=args.workers, images_per_task=args.images_per_task, seed=args.seed,
                           allow_random_weights=args.allow_random_weights, batch_size=args.batch_size,
                           image_size=args.image_size, progress=not args.quiet)
    _say(args, f"{report.total} pairs: {report.skipped} already in {report.out}, {report.computed} computed now")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert a CSV in another layout into the long ``model,task,score`` history format."""
    from fennec_core.tables import convert_table, write_history

    history = convert_table(args.input, model=args.model, task=args.task, score=args.score, wide=args.wide,
                            sep=args.sep)
    write_history(history, args.out)
    m, n = history.shape
    _say(args, f"wrote {int(history.mask.sum())} cells ({m} models x {n} tasks) to {args.out}")
    return 0


# -- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fennec`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", "-q", action="store_true", help="no progress bars or notes")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    components = argparse.ArgumentParser(add_help=False)
    components.add_argument("--factorizer", help="factorizer name (default pmf; see `fennec plugins`)")
    components.add_argument("--score-merger", help="score merger name (default weighted)")
    components.add_argument("--ranker", help="ranking method: fennec (default, this pipeline) or model-spider; "
                                             "needs task embeddings (--task-images / --task-embeddings)")
    components.add_argument("--config", action="append", metavar="KEY=VALUE",
                            help="factorizer.k=5 (or auto), score_merger.w=0.3, normalization=zscore, use_meta=false, "
                                 "warm_strength=10, seed=1")
    archi = argparse.ArgumentParser(add_help=False)
    archi.add_argument("--archi", default="none",
                       help="add architecture features from the models table's `architecture` column: a graph "
                            "encoder name (graph2vec) or none (default)")
    archi.add_argument("--archi-dims", type=int, default=4, help="principal components of the archi2vec vectors (4)")
    archi.add_argument("--archi-clusters", type=int, help="instead, a one-hot KMeans cluster id with this many clusters")
    archi.add_argument("--archi-config", action="append", metavar="KEY=VALUE",
                       help="graph encoder option, e.g. epochs=50 (graph2vec) or layers=2 (dgl-gin)")
    archi.add_argument("--no-cache", action="store_true",
                       help="capture every architecture again instead of reusing $FENNEC_CACHE_DIR (~/.cache/fennec)")
    device = argparse.ArgumentParser(add_help=False)
    device.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")

    p = _Parser(prog="fennec", description="Recommend pre-trained models to fine-tune for a new task.",
                parents=[common])
    p.add_argument("--version", action="version", version=f"fennec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("plugins", parents=[common], help="list components by kind, with origins")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_plugins)

    s = sub.add_parser("fit", parents=[common, components, archi, device], help="fit a zoo from a history CSV")
    s.add_argument("--history", required=True, help="long CSV with columns model,task,score")
    s.add_argument("--models", help="models CSV: model[,architecture][,numeric meta columns]")
    s.add_argument("--tasks", help="tasks CSV: task[,num_classes][,train_size][,description]")
    s.add_argument("--out", required=True, help="Zarr store path or fsspec URL to write")
    s.add_argument("--task-images", help="folder with one subfolder of images per task id: embedded by --proxy so "
                                         "new tasks can be ranked from their images (rank --images)")
    s.add_argument("--task-embeddings", help=".npz with one [n_items, d] array per task id, embedded elsewhere")
    s.add_argument("--proxy", default="clip", help="task proxy for --task-images: clip (default), dinov2, ...")
    s.add_argument("--proxy-config", action="append", metavar="KEY=VALUE",
                   help="proxy option, e.g. model=ViT-B-32, pretrained=/path/to/open_clip_pytorch_model.bin")
    s.add_argument("--images-per-task", type=int, default=100, help="images sampled per task (100)")
    s.set_defaults(func=cmd_fit)

    s = sub.add_parser("rank", parents=[common, device], help="rank the zoo's models for a new task")
    s.add_argument("--zoo", help="zoo store (default: the bundled 105-model zoo)")
    s.add_argument("--task", help="task id (a task of the zoo reuses its card)")
    s.add_argument("--num-classes", type=int, help="number of classes of the new task")
    s.add_argument("--train-size", type=int, help="training-set size of the new task")
    s.add_argument("--known", help="CSV model,score: scores already measured on this task (warm start)")
    s.add_argument("--explore", action="store_true", help="rank by the optimistic end of each model's 90%% interval")
    s.add_argument("--top", type=int, default=10, help="how many models to show (default 10)")
    s.add_argument("--images", help="folder of the new task's images (flat or one subfolder per class), embedded "
                                    "by the zoo's task proxy")
    s.add_argument("--images-per-task", type=int, default=100, help="images sampled from --images (100)")
    s.add_argument("--embeddings", help=".npy [n_items, d] of the new task, embedded like the zoo's tasks")
    s.add_argument("--describe", help="describe the task in words, e.g. \"photos of yoga poses\" (text proxy)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_rank)

    s = sub.add_parser("update", parents=[common], help="add new tasks or models to a fitted zoo")
    s.add_argument("--zoo", required=True, help="zoo store to update (rewritten atomically)")
    s.add_argument("--history", required=True, help="long CSV model,task,score of the new cells")
    s.add_argument("--models", help="models CSV with meta features of new models")
    s.add_argument("--tasks", help="tasks CSV with cards of new tasks")
    s.add_argument("--refit-threshold", type=float, default=2.0,
                   help="refit fully when the fold-in residual RMSE exceeds this x the fit RMSE (default 2)")
    s.add_argument("--refit", action="store_true", help="always refit fully")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_update)

    s = sub.add_parser("add-model", parents=[common, device],
                       help="add models with no history: features from the architecture, vectors predicted")
    s.add_argument("--zoo", required=True)
    s.add_argument("--model", action="append", required=True,
                   help="architecture reference (pytorchcv:NAME, timm:NAME, py:MODULE:CALLABLE); repeat for several")
    s.add_argument("--name", action="append", help="model id for each --model (default: the reference)")
    s.add_argument("--no-cache", action="store_true", help="capture the architectures again (no disk cache)")
    s.add_argument("--out", help="write the updated zoo here (default: update --zoo in place, atomically)")
    s.set_defaults(func=cmd_add_model)

    s = sub.add_parser("evaluate", parents=[common, components, archi, device], help="leave-one-task-out evaluation")
    s.add_argument("--history", required=True)
    s.add_argument("--models")
    s.add_argument("--tasks")
    s.add_argument("--task-embeddings", help=".npz with one [n_items, d] array per task id: each hidden task is "
                                             "ranked from its own embeddings")
    s.add_argument("--protocol", default="loo", help="loo (leave one task out), loo-warm:K (K known cells), loo-model (hide a model row)")
    s.add_argument("--repeats", type=int, default=5, help="draws of known cells per target for loo-warm:K")
    s.add_argument("--predictions", help="write model,task,predicted,truth,static for every hidden cell")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("evaluate-scores", parents=[common],
                       help="weighted tau of precomputed transferability scores (e.g. LogME) against truth")
    s.add_argument("--scores", required=True, help="long CSV: dataset, model, one column per method")
    s.add_argument("--truth", required=True, help="wide CSV: model, one column per dataset")
    s.add_argument("--dataset-col", default="Dataset")
    s.add_argument("--model-col", default="Model")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_evaluate_scores)

    s = sub.add_parser("build-history", parents=[common],
                       help="score models on task image folders with an estimator, on Dask (resumable)")
    s.add_argument("--models", required=True,
                   help="comma-separated references (timm:NAME, pytorchcv:NAME, py:MODULE:CALLABLE, each "
                        "optionally @weights.pt), or a file with one per line")
    s.add_argument("--tasks", required=True, help="folder with one subfolder per task, each with class subfolders")
    s.add_argument("--estimator", default="fda", help="estimator name (default fda, Fennec's history scorer)")
    s.add_argument("--out", required=True, help="history CSV to append to (model,task,score); reruns skip done pairs")
    s.add_argument("--scheduler", help="address of an existing Dask scheduler (default: a LocalCluster)")
    s.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    s.add_argument("--images-per-task", type=int, default=100)
    s.add_argument("--image-size", type=int, help="input size (default: the model's nominal size, else 224)")
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--allow-random-weights", action="store_true",
                   help="let timm/pytorchcv models run without pretrained weights (tests and benchmarks only)")
    s.set_defaults(func=cmd_build_history)

    s = sub.add_parser("demo", parents=[common, device], help="hide a target of the bundled zoo and rank it")
    s.add_argument("--task", default="flower", help="target to hide (default flower)")
    s.add_argument("--top", type=int, default=10)
    s.add_argument("--zoo", help=argparse.SUPPRESS)
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("convert", parents=[common], help="convert a CSV to the long model,task,score format")
    s.add_argument("input")
    s.add_argument("--out", required=True)
    s.add_argument("--wide", action="store_true", help="first column models, one column per task")
    s.add_argument("--model", action="append", help="model id column(s); several are joined with --sep")
    s.add_argument("--task", help="task column (long layout)")
    s.add_argument("--score", help="score column (long layout)")
    s.add_argument("--sep", default="/", help="separator joining several model columns (default /)")
    s.set_defaults(func=cmd_convert)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fennec`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FennecError as exc:
        if args.debug:
            raise
        print(f"fennec: error: {exc}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("fennec: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: say so, keep it to one line
        if args.debug:
            raise
        print(f"fennec: internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
