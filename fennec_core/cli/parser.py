"""The ``fennec`` argument parser and the parsing of ``KEY=VALUE`` options.

Parsing only: every subcommand's ``handler`` names a thin function in :mod:`fennec_core.cli.commands`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, NoReturn

from fennec_core import __version__
from fennec_core.errors import InputError
from fennec_core.serve.settings import MAX_BATCH

EXIT_USER = 2
ZOO_HELP = "a bundled zoo's name (see `fennec zoos`; default pytorchcv105) or the path of a fitted store"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def whole(minimum: int, maximum: int | None = None) -> Any:
    """An argparse ``type``: a whole number >= ``minimum`` (and <= ``maximum`` when given)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    parse.__name__ = f"whole number >= {minimum}" + ("" if maximum is None else f" and <= {maximum}")
    return parse


def non_negative(text: str) -> float:
    """An argparse ``type``: a number >= 0 (not NaN)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        return text


def key_values(items: Sequence[str] | None, flag: str, example: str) -> dict[str, Any]:
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
        if _parse_value(value) is None:
            raise InputError(f"--config {item!r}: null is not a value; leave the option out for its default")
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fennec`` command."""
    # -q/--debug work before or after the subcommand: the subcommands' copies default to SUPPRESS,
    # so they do not overwrite what the main parser read
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="no progress bars or notes")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
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
                       help="add archi2vec graph vectors of the models table's `architecture` column (its meta "
                            "features, params/layers/depth/FLOPs/input size, are computed in any case): a graph "
                            "encoder name (graph2vec, dgl-gin, or a plugin's; see `fennec plugins`) or none (default)")
    archi.add_argument("--archi-dims", type=whole(1), default=4, help="principal components of the archi2vec vectors (4)")
    archi.add_argument("--archi-clusters", type=whole(1), help="instead, a one-hot KMeans cluster id with this many clusters")
    archi.add_argument("--archi-config", action="append", metavar="KEY=VALUE",
                       help="graph encoder option, e.g. epochs=50 (graph2vec) or layers=2 (dgl-gin)")
    archi.add_argument("--no-cache", action="store_true",
                       help="capture every architecture again instead of reusing $FENNEC_CACHE_DIR (~/.cache/fennec)")
    archi.add_argument("--allow-code", action="store_true",
                       help="accept py:MODULE:CALLABLE references in the models table (they import and run code; "
                            "only for files you trust)")
    device = argparse.ArgumentParser(add_help=False)
    device.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")

    p = _Parser(prog="fennec", description="Recommend pre-trained models to fine-tune for a new task.")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or notes")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--version", action="version", version=f"fennec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("plugins", parents=[common], help="list components by kind, with origins")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_plugins")

    s = sub.add_parser("fit", parents=[common, components, archi, device], help="fit a zoo from a history CSV")
    s.add_argument("--history", required=True, help="long CSV (or CSV.gz) with columns model,task,score; with --factorizer spark-als also Parquet, read through Spark")
    s.add_argument("--models", help="models CSV: model[,architecture][,numeric meta columns]")
    s.add_argument("--tasks", help="tasks CSV: task[,num_classes][,train_size][,description]")
    s.add_argument("--out", required=True, help="Zarr store path or fsspec URL to write")
    s.add_argument("--task-images", help="folder with one subfolder of images per task id: embedded by --proxy so "
                                         "new tasks can be ranked from their images (rank --images)")
    s.add_argument("--task-embeddings", help=".npz with one [n_items, d] array per task id, embedded elsewhere")
    s.add_argument("--proxy", default="clip", help="task proxy for --task-images: clip (default), dinov2, ...")
    s.add_argument("--proxy-config", action="append", metavar="KEY=VALUE",
                   help="proxy option, e.g. model=ViT-B-32, pretrained=/path/to/open_clip_pytorch_model.bin")
    s.add_argument("--images-per-task", type=whole(1), default=100, help="images sampled per task (100)")
    s.add_argument("--probes", help="long CSV model,task,estimator,score of probe scores on the history's tasks: "
                                    "the zoo learns how each estimator maps onto its results (rank --probes)")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_fit")

    # the task a command ranks or searches for (rank, next): one definition of these options
    task = argparse.ArgumentParser(add_help=False)
    task.add_argument("--zoo", help=ZOO_HELP)
    task.add_argument("--task", help="task id (a task of the zoo reuses its card)")
    task.add_argument("--new-task", action="store_true", help="--task names a new task even with nothing known about "
                                                              "it (otherwise an unknown id is taken for a typo)")
    task.add_argument("--num-classes", type=whole(1), help="number of classes of the new task")
    task.add_argument("--train-size", type=whole(1), help="training-set size of the new task")
    task.add_argument("--images", help="folder of the new task's images (flat or one subfolder per class), embedded "
                                       "by the zoo's task proxy")
    task.add_argument("--images-per-task", type=whole(1), default=100, help="images sampled from --images (100)")
    task.add_argument("--embeddings", help=".npy [n_items, d] of the new task, embedded like the zoo's tasks")
    task.add_argument("--describe", help="describe the task in words, e.g. \"photos of yoga poses\" (text proxy)")
    task.add_argument("--card", action="append", metavar="NAME=VALUE",
                      help="a categorical value of the task, as in the zoo's tasks table, e.g. --card type=Retrieval "
                           "--card languages=deu (several values comma-separated); repeatable")
    task.add_argument("--probes", help="CSV model,estimator,score: probe scores measured on the task's own data "
                                       "(e.g. logme), fused with the history through the zoo's probe mapping")

    s = sub.add_parser("rank", parents=[common, device, task], help="rank the zoo's models for a new task")
    s.add_argument("--known", help="CSV model,score: scores already measured on this task (warm start)")
    s.add_argument("--explore", action="store_true", help="rank by the optimistic end of each model's 90%% interval")
    s.add_argument("--top", type=whole(1), default=10, help="how many models to show (default 10)")
    filters = s.add_argument_group("model filters (rank only the models that fit; a model whose card lacks the "
                                   "value does not fit)")
    filters.add_argument("--max-params", type=float, metavar="N", help="at most N parameters, e.g. 1e9")
    filters.add_argument("--license", metavar="A,B", help="one of these licences, e.g. apache-2.0,mit")
    filters.add_argument("--open-weights", action="store_true", help="only models with open weights")
    filters.add_argument("--min-max-tokens", type=float, metavar="N", help="a context of at least N tokens")
    filters.add_argument("--where", metavar="FILTER", help="conditions over model-card columns joined by &, e.g. "
                                                           "\"params<=1e9 & license=apache-2.0,mit\" "
                                                           "(OP: <= < >= > = !=)")
    s.add_argument("--ranker", help="rank with fennec (the pipeline) or a ranker the zoo holds trained, e.g. "
                                    "model-spider on the bundled zoo (default: the one the zoo was fitted with)")
    probing = s.add_argument_group("probing (the two-stage loop: rank, probe the best candidates on your labelled "
                                   "sample with their local weights, fold the scores in, rank again)")
    probing.add_argument("--probe-top", type=whole(1), metavar="N",
                         help="probe the N best-ranked models that have local weights (--images DIR with one "
                              "subfolder per class, or --texts; the sample is probed, not embedded by a proxy)")
    probing.add_argument("--texts", help="with --probe-top: CSV text,label, a labelled sample of the task")
    probing.add_argument("--estimator", default="logme", help="with --probe-top: the estimator (default logme); the "
                                                              "zoo must map it (fit --probes)")
    probing.add_argument("--allow-download", action="store_true",
                         help="with --probe-top: let torchvision/timm fetch missing weights")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_rank")

    s = sub.add_parser("next", parents=[common, device, task], help="propose the next model(s) to fine-tune for a task")
    s.add_argument("--known", help="CSV model,score: results measured so far on this task (never proposed again)")
    s.add_argument("--strategy", default="ei", help="ei (expected improvement over the best known, default), ucb, "
                                                    "thompson or greedy")
    s.add_argument("--batch", type=whole(1, MAX_BATCH), default=1,
                   help=f"how many models to propose (kriging believer; default 1, at most {MAX_BATCH} as the server)")
    s.add_argument("--seed", type=whole(0), help="seed of Thompson draws and P(best) (default: the zoo's)")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_next")

    s = sub.add_parser("update", parents=[common], help="add new tasks or models to a fitted zoo")
    s.add_argument("--zoo", required=True, help="zoo to update: a store path (rewritten atomically unless --out) or a "
                                                "bundled zoo's name (then --out is needed)")
    s.add_argument("--out", help="write the updated zoo here (default: update --zoo in place, atomically)")
    s.add_argument("--history", required=True, help="long CSV model,task,score of the new cells")
    s.add_argument("--models", help="models CSV with meta features of new models")
    s.add_argument("--tasks", help="tasks CSV with cards of new tasks")
    s.add_argument("--refit-threshold", type=non_negative, default=2.0,
                   help="refit fully when the fold-in residual RMSE exceeds this x the median residual of the zoo's own "
                        "tasks folded in the same way (default 2)")
    s.add_argument("--refit", action="store_true", help="always refit fully")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_update")

    s = sub.add_parser("add-model", parents=[common, device],
                       help="add models with no history: features from the architecture, vectors predicted")
    s.add_argument("--zoo", required=True, help="zoo to add the models to: a store path (rewritten atomically unless "
                                                "--out) or a bundled zoo's name (then --out is needed)")
    s.add_argument("--model", action="append", required=True,
                   help="architecture reference (pytorchcv:NAME, timm:NAME, py:MODULE:CALLABLE); repeat for several")
    s.add_argument("--name", action="append", help="model id for each --model (default: the reference)")
    s.add_argument("--no-cache", action="store_true", help="capture the architectures again (no disk cache)")
    s.add_argument("--out", help="write the updated zoo here (default: update --zoo in place, atomically)")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_add_model")

    s = sub.add_parser("evaluate", parents=[common, components, archi, device], help="leave-one-task-out evaluation")
    s.add_argument("--history", help="long CSV with columns model,task,score (or --zoo)")
    s.add_argument("--zoo", help="evaluate on a zoo's own tables, settings and task embeddings: " + ZOO_HELP)
    s.add_argument("--models", help="models CSV: model[,architecture][,numeric meta columns]")
    s.add_argument("--tasks", help="tasks CSV: task[,num_classes][,train_size][,description]")
    s.add_argument("--task-embeddings", help=".npz with one [n_items, d] array per task id: each hidden task is "
                                             "ranked from its own embeddings")
    s.add_argument("--proxy", help="embed each task's description (tasks table) with this text proxy (text) and rank "
                                   "each hidden task from its description, mapped by the other tasks only")
    s.add_argument("--protocol", default="loo", help="loo (leave one task out), loo-warm:K (K known cells), loo-model "
                                                     "(hide a model row), search:K (K sequential picks, regret per "
                                                     "step), loo-probe:EST[:N] (reveal estimator EST's scores of the "
                                                     "top N models, with --probes), or a plugin's; `list` shows every "
                                                     "registered one")
    s.add_argument("--probes", help="loo-probe: long CSV model,task,estimator,score of probe scores (default: the "
                                    "history's probe tasks, e.g. mnli_lp)")
    s.add_argument("--strategy", help="search:K only: ei (default), ucb, thompson or greedy")
    s.add_argument("--repeats", type=whole(1), help="draws of known cells per target for loo-warm:K (default 5)")
    s.add_argument("--jobs", type=int, default=1, help="run the folds in this many worker processes (default 1; -1: "
                                                      "one per core); the numbers are the same for any")
    s.add_argument("--scheduler", help="run the folds on the Dask cluster at this scheduler address "
                                        "(tcp://host:8786), at most --jobs at a time (-1: all); the numbers are "
                                        "the same as here")
    s.add_argument("--predictions", help="write model,task,predicted,truth,low,high,score,static for every hidden "
                                           "cell (predicted, low, high in the task's units; search:K: task,step,model,truth)")
    s.add_argument("--baseline",
                   help="report gains against this member of the baseline suite: best (default: the member with the "
                        "best mean on the table, per metric), static, static-zscore-clip, static-minmax, static-none, "
                        "card, size, nearest (warm)")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_evaluate")

    s = sub.add_parser("evaluate-scores", parents=[common],
                       help="weighted tau of precomputed transferability scores (e.g. LogME) against truth")
    s.add_argument("--scores", required=True, help="long CSV: dataset, model, one column per method")
    s.add_argument("--truth", required=True, help="wide CSV: model, one column per dataset")
    s.add_argument("--dataset-col", default="Dataset", help="dataset column of --scores (default Dataset)")
    s.add_argument("--model-col", default="Model", help="model column of --scores (default Model)")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_evaluate_scores")

    s = sub.add_parser("build-history", parents=[common],
                       help="score models on task image folders with an estimator, on Dask (resumable)")
    s.add_argument("--models", required=True,
                   help="comma-separated references (timm:NAME, pytorchcv:NAME, py:MODULE:CALLABLE, each "
                        "optionally @weights.pt), or a file with one per line")
    s.add_argument("--tasks", required=True, help="folder with one subfolder per task, each with class subfolders")
    s.add_argument("--estimator", default="fda", help="estimator name (default fda, Fennec's history scorer)")
    s.add_argument("--out", required=True, help="history CSV to append to (model,task,score); reruns skip done pairs")
    s.add_argument("--scheduler", help="address of an existing Dask scheduler (default: a LocalCluster)")
    s.add_argument("--workers", type=whole(1), default=2, help="LocalCluster workers (default 2)")
    s.add_argument("--images-per-task", type=whole(1), default=100, help="images sampled per task (100)")
    s.add_argument("--image-size", type=whole(1), help="input size (default: the model's nominal size, else 224)")
    s.add_argument("--batch-size", type=whole(1), default=32, help="images per forward pass (32)")
    s.add_argument("--seed", type=whole(0), default=0, help="seed of the image sampling (0)")
    s.add_argument("--allow-random-weights", action="store_true",
                   help="let timm/pytorchcv models run without pretrained weights (tests and benchmarks only)")
    s.add_argument("--allow-code", action="store_true",
                   help="accept py:MODULE:CALLABLE references in a --models file (they import and run code)")
    s.add_argument("--allow-download", action="store_true",
                   help="let timm/pytorchcv download missing pretrained weights (by default only local caches and "
                        "@weights files are used: no network access)")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_build_history")

    s = sub.add_parser("probe", parents=[common],
                       help="score models on your labelled sample with their real local weights (LogME by default)")
    s.add_argument("--images", help="folder with one subfolder of images per class")
    s.add_argument("--texts", help="CSV with columns text,label")
    s.add_argument("--models", help="comma-separated model ids with local weights (see `fennec plugins`: backbones), "
                                    "e.g. mobilenet-v2,efficientnet-lite0 or torchvision:resnet50")
    s.add_argument("--zoo", help="instead of --models: the --top best models of this zoo (its static ranking) that "
                                 "have local weights: a bundled zoo's name (see `fennec zoos`) or a fitted store's path")
    s.add_argument("--top", type=whole(1), default=5, help="how many of the zoo's models to probe (5)")
    s.add_argument("--estimator", default="logme",
                   help="estimator name(s), comma-separated (default logme; nce and leep need an ImageNet head)")
    s.add_argument("-n", type=whole(2), default=200, help="examples sampled, class-balanced and seeded (200)")
    s.add_argument("--seed", type=whole(0), default=0, help="seed of the sampling (0)")
    s.add_argument("--batch-size", type=whole(1), default=32, help="inputs per forward pass (32)")
    s.add_argument("--allow-download", action="store_true",
                   help="let a backbone download missing weights (by default only local files: no network access)")
    s.add_argument("-o", "--out", help="CSV to write: model,estimator,score (for `fennec rank --probes`)")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_probe")

    s = sub.add_parser("demo", parents=[common, device], help="hide a target of the bundled zoo and rank it")
    s.add_argument("--task", default="flower",
                   help="target to hide (default flower): one of the bundled zoo's tasks "
                        "sport, yoga, flower, intel, weather, germ, nature")
    s.add_argument("--top", type=whole(1), default=10, help="how many models to show (default 10)")
    s.add_argument("--zoo", help=argparse.SUPPRESS)
    s.add_argument("--allow-code", action="store_true", help=argparse.SUPPRESS)
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_demo")

    s = sub.add_parser("convert", parents=[common], help="convert a CSV to the long model,task,score format")
    s.add_argument("input", help="the CSV to convert")
    s.add_argument("--out", required=True, help="long history CSV to write (model,task,score)")
    s.add_argument("--wide", action="store_true", help="first column models, one column per task")
    s.add_argument("--model", action="append", help="model id column(s); several are joined with --sep")
    s.add_argument("--task", help="task column (long layout)")
    s.add_argument("--score", help="score column (long layout)")
    s.add_argument("--sep", default="/", help="separator joining several model columns (default /)")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_convert")

    s = sub.add_parser("serve", parents=[common], help="serve zoos over HTTP: a JSON API, a web page, API docs "
                                                       "(docs/serve.md)")
    s.add_argument("--zoo", action="append", help="a bundled zoo's name (see `fennec zoos`) or the path of a fitted "
                                                  "store; repeat to serve several (default: every bundled zoo)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=whole(0), default=8000, help="port to listen on (default 8000)")
    s.add_argument("--workers", type=whole(1), default=1, help="server processes sharing the port (default 1)")
    s.add_argument("--token-file", help="file whose first line is the bearer token that turns on POST "
                                        "/zoos/{zoo}/results (or $FENNEC_SERVE_TOKEN); without one, writes are off")
    s.add_argument("--data-dir", help="where bundled zoos are copied before results are added to them (default "
                                      "$FENNEC_DATA_DIR, else ~/.local/share/fennec)")
    s.add_argument("--cors-origin", action="append", help="let browser pages from this origin call the API, e.g. "
                                                          "http://localhost:3000 (repeatable; default: CORS off)")
    s.add_argument("--allowed-host", action="append", help="also answer requests whose Host header is this name "
                                                           "(api.example.com, *.example.com, or * for any); default: "
                                                           "loopback names and the --host address")
    s.add_argument("--timeout", type=non_negative, default=30.0, help="seconds a ranking request may take (30)")
    s.add_argument("--device", default="cpu", help="device ranking runs on (default cpu)")
    s.add_argument("--access-log", action="store_true", help="log every request (default: errors only)")
    s.set_defaults(handler="cmd_serve")

    s = sub.add_parser("zoos", parents=[common], help="list the bundled zoos: models, tasks, source, licence")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_zoos")

    s = sub.add_parser("zoo", parents=[common], help="inspect a zoo (`fennec zoo info`)")
    zoo_sub = s.add_subparsers(dest="zoo_command", required=True, parser_class=_Parser, metavar="info",
                               help="info: what a zoo holds")
    s = zoo_sub.add_parser("info", parents=[common, device], help="what a zoo holds: counts, settings, tasks, models")
    s.add_argument("--zoo", help=ZOO_HELP)
    s.add_argument("--models", action="store_true", help="list every model with its features (default: the first 10)")
    s.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    s.set_defaults(handler="cmd_zoo_info")
    return p
