"""The ``fennec`` commands: each parses its arguments into Python API calls and formats the result.

No pipeline work happens here: fitting, ranking from images or a description, adding models
from their architectures and leave-one-task-out all go through :class:`fennec_core.Fennec` and
:mod:`fennec_core.evaluation`, exactly as a Python user would call them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from fennec_core.cli.format import bars, print_ranking, print_table, probe_bar, say
from fennec_core.cli.parser import key_values, parse_config
from fennec_core.errors import InputError


def _engine(args: argparse.Namespace):
    from fennec_core.engine import Fennec

    cfg = parse_config(args.config or [])
    names = {k: v for k, v in (("factorizer", args.factorizer), ("score_merger", args.score_merger),
                               ("ranker", getattr(args, "ranker", None))) if v}
    if cfg["ranker_config"] and names.get("ranker", "fennec") == "fennec":
        raise InputError("--config ranker.*: options of a trained ranker, but none is chosen; add --ranker NAME "
                         "(e.g. model-spider), or drop them (the fennec pipeline has no ranker options)")
    return Fennec(**names, device=args.device, **cfg)


def _load_zoo(args: argparse.Namespace):
    from fennec_core.cli.zoo_commands import load_zoo

    return load_zoo(args)


def _models(args: argparse.Namespace):
    """The ``--models`` table's cards (``py:`` architectures only with ``--allow-code``), or None."""
    from fennec_core.io.tables import read_models

    return read_models(args.models, allow_code=getattr(args, "allow_code", False)) if args.models else None


def _archi(args: argparse.Namespace):
    """The ``--archi*`` options as an ArchiSpec, or None for ``--archi none`` (meta features of the
    models' architectures only, from the cache unless ``--no-cache``)."""
    if args.no_cache and not args.models:
        raise InputError("--no-cache re-captures the architectures of --models; give --models with an `architecture` "
                         "column, or drop --no-cache")
    if args.archi == "none":
        if not args.no_cache:
            return None
        from fennec_core.architecture.encoding import ArchiSpec

        return ArchiSpec(None, cache=False)  # the meta features are captured again too
    if not args.models:
        raise InputError("--archi needs --models with an `architecture` column (e.g. pytorchcv:resnet50)")
    from fennec_core.architecture.encoding import ArchiSpec

    return ArchiSpec(args.archi, key_values(args.archi_config, "--archi-config", "epochs=50"), args.archi_dims,
                     args.archi_clusters, cache=not args.no_cache)


def _check_out(path: str, flag: str, *, folder: bool = False) -> None:
    """Fail now, before any work, when ``path`` cannot be written (a folder for a file, under a file, ...)."""
    from fennec_core.io.tables import check_output_path

    if folder:  # a store: never the installed package's bundled zoos, never inside another store
        from fennec_core.io.catalog import check_writable
        from fennec_core.io.store import check_store_target

        check_writable(path, flag)
        check_store_target(path)
    check_output_path(path, flag, folder=folder)


def _print_json(doc: Any) -> int:
    """Print ``doc`` as indented JSON on stdout (what ``--json`` gives); returns exit code 0."""
    print(json.dumps(doc, indent=2))
    return 0


def _task_embeddings_file(path: str | None):
    """(embeddings per historical task, proxy spec) from ``--task-embeddings``, or (None, None)."""
    if not path:
        return None, None
    from fennec_core.task.embeddings import read_embeddings_file

    return read_embeddings_file(path), {"name": "external", "config": {"file": os.path.basename(path)}}


# -- commands ---------------------------------------------------------------------------------


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit a zoo from a history CSV and save it as a Zarr store."""
    from fennec_core.plugin.contracts import latent_size

    t0 = time.perf_counter()
    if args.task_images and args.task_embeddings:
        raise InputError("give --task-images or --task-embeddings, not both")
    _check_out(args.out, "--out", folder=True)
    embeddings, spec = _task_embeddings_file(args.task_embeddings)
    from fennec_core.plugin.contracts import HistoryReader, supports

    engine = _engine(args)
    history: Any = args.history
    if supports(engine.components.factorizer, HistoryReader):  # e.g. spark-als: CSV, CSV.gz, Parquet via Spark
        history = engine.components.factorizer.read_history(args.history)
    engine = engine.fit(
        history, _models(args), args.tasks, archi=_archi(args), task_embeddings=embeddings,
        proxy=spec or args.proxy, proxy_config=key_values(args.proxy_config, "--proxy-config", "model=ViT-B-32"),
        task_images=args.task_images, images_per_task=args.images_per_task, progress=bars(args))
    if args.probes:
        from fennec_core.io.probe_tables import read_probe_table
        from fennec_core.scoring.probes import fit_probes

        fit_probes(engine, read_probe_table(args.probes))
    engine.save(args.out)
    zoo = engine.zoo_
    m, n = zoo.history.shape
    k = latent_size(zoo.factors, engine.components.factorizer)
    how = f"{engine.factorizer}, k={k}" + (" chosen by CV" if zoo.k_selection else "") + \
        (f"; ranker {engine.ranker}" if engine.components.ranker is not None else "")
    seconds = time.perf_counter() - t0
    if args.json:
        return _print_json({"models": m, "tasks": n, "observed": zoo.history.nnz,
                            "factorizer": engine.factorizer, "k": int(k), "k_chosen_by_cv": bool(zoo.k_selection),
                            "ranker": engine.ranker, "out": args.out, "seconds": round(seconds, 3)})
    say(args, f"fitted {m} models x {n} tasks ({how}) in {seconds:.2f} s; saved to {args.out}")
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    """Rank the zoo's models for a new task."""
    from fennec_core.cli.task_inputs import model_filter, task_request

    engine, request = task_request(args)
    options = {"top": args.top, "explore": args.explore, "where": model_filter(args)}
    if args.probe_top is None:
        if args.texts:
            raise InputError("--texts is a labelled sample to probe: add --probe-top N (or use fennec probe)")
        ranking = engine.rank(request, **options)
    else:
        ranking = _rank_probing(args, engine, request, options)
    if args.json:
        print(ranking.to_json(indent=2))
    else:
        print_ranking(args, ranking)
    return 0


def _rank_probing(args: argparse.Namespace, engine: Any, request: Any, options: dict[str, Any]) -> Any:
    """``rank --probe-top N``: rank, probe the N best-ranked models with local weights on the labelled
    --images/--texts sample, fold the scores in, rank again (the sample is probed, not embedded)."""
    import attrs

    from fennec_core.io.probe_tables import read_text_sample
    from fennec_core.task.probing import rank_probing, read_image_sample

    if bool(args.images) == bool(args.texts):
        raise InputError("--probe-top N probes a labelled sample of the task: give --images DIR (one subfolder per "
                         "class) or --texts T.csv (columns text,label)")
    sample = read_image_sample(args.images, seed=0) if args.images else read_text_sample(args.texts, seed=0)
    ranking, scores, skipped = rank_probing(engine, attrs.evolve(request, images=None), sample,
                                            top_n=args.probe_top, estimator=args.estimator,
                                            allow_download=args.allow_download,
                                            progress=probe_bar(args, args.probe_top), **options)
    seconds = sum(s.seconds + s.load_seconds for s in scores)
    say(args, f"note: probed {', '.join(s.model for s in scores)} with {args.estimator} on {len(sample.labels)} "
              f"labelled {sample.modality} ({seconds:.1f} s)" + (f"; skipped {len(skipped)} better-ranked model(s) "
                                                                f"without local weights" if skipped else ""))
    return ranking


#: how ``fennec evaluate`` spells each protocol option (``compare`` is --baseline)
PROTOCOL_FLAGS = {"repeats": "--repeats", "strategy": "--strategy", "compare": "--baseline", "probes": "--probes"}


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a configuration on a history under a protocol, beside the baseline suite."""
    from fennec_core.evaluation.runner import check_options, protocol_from_spec, run_protocol
    from fennec_core.io.tables import read_history, read_tasks

    if args.protocol == "list":
        print(format_protocols())
        return 0
    protocol = protocol_from_spec(args.protocol)  # a bad spec or option fails before anything is read
    options = {key: value for key, value in (("repeats", args.repeats), ("strategy", args.strategy),
                                             ("compare", args.baseline), ("probes", args.probes)) if value is not None}
    check_options(protocol, options, PROTOCOL_FLAGS)
    if args.predictions:
        _check_out(args.predictions, "--predictions")
    if bool(args.zoo) == bool(args.history):
        raise InputError("give --history H.csv (with --models/--tasks) or --zoo NAME|PATH (its own tables), not both"
                         if args.zoo else "give --history H.csv, or --zoo NAME|PATH to evaluate on a zoo's own tables "
                         "(see `fennec zoos`)")
    if args.zoo:
        if args.models or args.tasks or args.archi != "none":
            raise InputError("--zoo evaluates on the zoo's own models and tasks tables; --models, --tasks and --archi "
                             "go with --history")
        zoo_engine = _load_zoo(args)
        engine = zoo_engine.clone(**_overrides(args))
        zoo = zoo_engine.zoo_
        history, models, tasks = zoo.history, list(zoo.models.values()), list(zoo.tasks.values())
        embeddings = dict(zoo.task_embeddings) or None
    else:
        engine = _engine(args)
        history = read_history(args.history)
        models = _models(args)
        spec = _archi(args)
        if spec is not None:
            models, _ = spec.apply(models, progress=bars(args))
        tasks = read_tasks(args.tasks) if args.tasks else None
        embeddings, _ = _task_embeddings_file(args.task_embeddings)
    if args.proxy:
        if args.task_embeddings:
            raise InputError("give --proxy (embed the tasks' descriptions) or --task-embeddings, not both")
        from fennec_core.task.proxies import description_embeddings

        embeddings, _ = description_embeddings(tasks or [], args.proxy, registry=engine.registry)
    from fennec_core.evaluation.folds import dask_scheduler

    with dask_scheduler(args.scheduler):  # --scheduler: the folds run on that Dask cluster
        report = run_protocol(protocol, engine, history, models=models, tasks=tasks, task_embeddings=embeddings,
                              progress=bars(args), jobs=args.jobs, flags=PROTOCOL_FLAGS, **options)
    if args.predictions:
        report.write_predictions(args.predictions)
        say(args, f"wrote {len(report.predictions)} predictions to {args.predictions}")
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_table())
    return 0


def format_protocols() -> str:
    """One line per registered protocol: how it is written, the options it takes, its summary."""
    from fennec_core.evaluation.runner import KIND, protocol_usages
    from fennec_core.plugin.registry import default_registry

    reg = default_registry()
    lines = []
    for name, usage in zip(reg.available(KIND), protocol_usages(reg), strict=True):
        component = reg.get(KIND, name)
        doc = (component.factory.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        doc = " ".join(doc.split())
        opts = ", ".join(PROTOCOL_FLAGS[o] for o in getattr(component.factory, "options", ()) if o in PROTOCOL_FLAGS)
        lines.append(f"{usage:<14} {doc}" + (f" [{opts}]" if opts else "") + f" ({component.origin})")
    return "\n".join(lines)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Engine parameters given on the command line (for a clone of a loaded zoo's engine)."""
    cfg = parse_config(args.config or [])
    out = {k: v for k, v in cfg.items() if not k.endswith("_config")}
    out.update({k: v for k, v in cfg.items() if k.endswith("_config") and v})
    out.update({k: v for k, v in (("factorizer", args.factorizer), ("score_merger", args.score_merger),
                                  ("ranker", getattr(args, "ranker", None))) if v})
    return out


def cmd_update(args: argparse.Namespace) -> int:
    """Fold new tasks or models into a fitted zoo (full refit when needed) and save it."""
    from fennec_core.engine import Fennec
    from fennec_core.io.catalog import check_writable, resolve
    from fennec_core.io.store import store_lock
    from fennec_core.io.tables import read_models, read_tasks

    t0 = time.perf_counter()
    source = resolve(args.zoo)
    if args.out:
        _check_out(args.out, "--out", folder=True)
    else:
        check_writable(source)
    target = args.out or source
    with store_lock(target):  # load, change and save as one step: concurrent updates are serialised
        engine = Fennec.load(source)
        report = engine.update(args.history, models=read_models(args.models) if args.models else None,
                               tasks=read_tasks(args.tasks) if args.tasks else None,
                               refit_threshold=args.refit_threshold, force_refit=args.refit)
        engine.save(target)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        how = f"full refit ({report['reason']})" if report["refit"] else "fold-in, no refit"
        if report.get("retrained_rankers"):
            how += f"; ranker(s) {', '.join(report['retrained_rankers'])} trained again on the refit"
        print(f"added {len(report['new_tasks'])} task(s), {len(report['new_models'])} model(s) by {how}; "
              f"saved to {target}")
    return 0


def cmd_add_model(args: argparse.Namespace) -> int:
    """Add models with no history: features from their architecture, vectors predicted."""
    from fennec_core.engine import Fennec
    from fennec_core.io.store import store_lock

    if args.name and len(args.name) != len(args.model):
        raise InputError(f"give one --name per --model ({len(args.model)} models, {len(args.name)} names)")
    from fennec_core.io.catalog import check_writable, resolve

    source = resolve(args.zoo)
    if args.out:
        _check_out(args.out, "--out", folder=True)
    else:
        check_writable(source)
    with store_lock(args.out or source):  # in place: load, change and save as one step
        engine = Fennec.load(source, device=args.device)
        added = engine.add_architectures(args.model, args.name, cache=not args.no_cache)
        engine.save(args.out or source)
    if args.json:
        return _print_json({"added": list(added), "out": args.out or source})
    say(args, f"added {len(added)} model(s) with predicted vectors: {', '.join(added)}; saved to {args.out or source}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Hide one target of the bundled 105-model benchmark, rank, and compare with the truth."""
    import numpy as np

    from fennec_core.evaluation import fit_without_task
    from fennec_core.evaluation.baselines import suite_scores
    from fennec_core.metrics import all_metrics, format_metric, metric_label

    t0 = time.perf_counter()
    loaded = _load_zoo(args)
    zoo, task = loaded.zoo_, args.task
    history = zoo.history
    truth_col, observed = history.column(task)  # a clear error for an unknown target
    engine = fit_without_task(loaded, history, task, models=list(zoo.models.values()),
                              tasks=list(zoo.tasks.values()), progress=bars(args))
    ranking = engine.rank(zoo.tasks[task])
    elapsed = time.perf_counter() - t0
    truth = {m: float(truth_col[i]) for i, m in enumerate(history.model_ids) if observed[i]}
    if not args.json:
        print(f"Hidden target: {task!r} ({len(truth)} models). Fennec fitted on the other "
              f"{len(history.task_ids) - 1} tasks and ranked without seeing it.\n")
        print_ranking(args, ranking.top(args.top), truth)
    pos = {m: i for i, m in enumerate(ranking.model_ids)}
    pred = np.array([ranking.scores[pos[m]] for m in history.model_ids])
    suite = suite_scores(history.without_task(task), models=dict(zoo.models), tasks=dict(zoo.tasks),
                         task=zoo.tasks[task], normalization=engine.resolved_normalization)
    fm = all_metrics(truth_col[observed], pred[observed])
    members = {name: all_metrics(truth_col[observed], scores[observed]) for name, scores in suite.items()}
    best = max(truth, key=truth.get)
    if args.json:
        return _print_json({"task": task, "ranking": ranking.top(args.top).to_dict(), "truth": truth,
                            "metrics": {"fennec": fm, **members}, "best": {"model": best, "truth": truth[best]},
                            "seconds": round(elapsed, 3)})
    print()
    names = list(members)
    print_table(["metric", "fennec", *names],
                [[metric_label(k), format_metric(fm[k], k), *(format_metric(members[n][k], k) for n in names)]
                 for k in fm])
    top_rule = max(names, key=lambda n: members[n]["weighted_tau"])
    print(f"\nsimple rules: the baseline suite, fitted on the other tasks too; on this target the best of them by "
          f"weighted tau is {top_rule} ({members[top_rule]['weighted_tau']:.3f}, chosen after seeing the target; "
          f"`fennec evaluate` chooses it over every target)")
    print(f"best true model: {best} ({truth[best]:.4f}); done in {elapsed:.2f} s")
    return 0


def cmd_evaluate_scores(args: argparse.Namespace) -> int:
    """Weighted tau of precomputed transferability scores against fine-tuning truth."""
    from fennec_core.evaluation.protocols import evaluate_scores

    result = evaluate_scores(args.scores, args.truth, dataset_col=args.dataset_col, model_col=args.model_col)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    datasets = sorted({d for r in result.values() for d in r["per_dataset"]})
    rows = [[m, *[f"{r['per_dataset'].get(d, float('nan')):.3f}" for d in datasets], f"{r['mean']:.3f}"]
            for m, r in result.items()]
    print_table(["method", *datasets, "mean"], rows)
    return 0


def cmd_build_history(args: argparse.Namespace) -> int:
    """Score every model on every task folder with an estimator, on Dask; resumable."""
    from pathlib import Path

    from fennec_core.history.builder import build_history

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if len(models) == 1 and Path(models[0]).is_file():
        from fennec_core.architecture.sources import check_data_reference

        listed = [(i, ln.strip()) for i, ln in enumerate(Path(models[0]).read_text().splitlines(), 1)
                  if ln.strip() and not ln.startswith("#")]
        models = [check_data_reference(ref, f"{models[0]}: line {i}", allow_code=args.allow_code)
                  for i, ref in listed]
    if not models:
        raise InputError("--models is empty; give model references (timm:resnet50,...) or a file with one per line")
    _check_out(args.out, "--out")
    report = build_history(models, args.tasks, args.out, estimator=args.estimator, scheduler=args.scheduler,
                           n_workers=args.workers, images_per_task=args.images_per_task, seed=args.seed,
                           allow_random_weights=args.allow_random_weights, allow_download=args.allow_download,
                           batch_size=args.batch_size,
                           image_size=args.image_size, progress=bars(args))
    if args.json:
        return _print_json({"pairs": report.total, "skipped": report.skipped, "computed": report.computed,
                            "out": str(report.out), "estimator": args.estimator})
    say(args, f"{report.total} pairs: {report.skipped} already in {report.out}, {report.computed} computed now")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert a CSV in another layout into the long ``model,task,score`` history format."""
    from fennec_core.io.tables import convert_table, write_history

    _check_out(args.out, "--out")
    history = convert_table(args.input, model=args.model, task=args.task, score=args.score, wide=args.wide,
                            sep=args.sep)
    write_history(history, args.out)
    m, n = history.shape
    if args.json:
        return _print_json({"cells": history.nnz, "models": m, "tasks": n, "out": args.out})
    say(args, f"wrote {history.nnz} cells ({m} models x {n} tasks) to {args.out}")
    return 0
