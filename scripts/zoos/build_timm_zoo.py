"""Build the source tables of the bundled ``timm`` zoo from timm's published ImageNet results.

Data: huggingface/pytorch-image-models, ``results/`` (commit aa4b5850; Apache-2.0): top-1 of
timm's pretrained models (``architecture.tag``, e.g. ``convnext_tiny.fb_in22k_ft_in1k``) on six
ImageNet evaluation sets, with ``param_count``, ``img_size``, ``crop_pct``, and
``model_metadata-in1k.csv`` (pretraining data of timm architectures under their old, untagged
names). Every model is an ImageNet-1k classifier (1,000 classes) trained or fine-tuned on the
ImageNet-1k training set; the six sets are six test sets for it.

Writes, into ``--out`` (default ``fennec_core/data/timm``):

- ``history.csv.gz``: long ``model,task,score``, score = top-1 / 100, tasks ``imagenet`` (val),
  ``imagenet_real``, ``imagenet_v2`` (matched frequency), ``imagenet_sketch``, ``imagenet_a``,
  ``imagenet_r``.
- ``models.csv.gz``: ``model`` (the tagged name), ``architecture`` (``timm:<name without tag>``)
  and numeric meta columns only (``fennec_core.io.tables.read_models`` reads every other column
  as a number): ``log10_param_count`` (from the results' ``param_count``, in millions),
  ``img_size`` and ``crop_pct`` of the evaluation, the pretraining indicators below, the
  architecture meta features of :func:`fennec_core.architecture.features.describe_model`
  (``log10_params``, ``conv_linear_layers``, ``depth``, ``log10_flops``, ``input_size``: the
  names a model added later by its architecture alone gets) and ``arch_pc_0..3``, the first
  principal components of the architecture's graph2vec vector.
- ``models_info.csv.gz``: text for display: family (the timm module that defines the
  architecture), pretrained tag, a readable pretraining label, the metadata label and how it was
  matched, parameters, evaluated and test resolutions.
- ``archi.json.gz``: the architecture encoding (every unique architecture's graph, its graph2vec
  vector, the PCA) as :class:`fennec_core.architecture.encoding.ArchiEncoding` document, like
  ``fennec_core/data/zoo105_archi.json.gz``: a new model is encoded in the same basis.
- ``tasks.csv``: copied from ``scripts/zoos/timm_tasks.csv``.
- ``failures.csv``: ``kind,item,reason``: architectures that could not be built or captured
  (``architecture``), (model, task) cells without a score (``missing_score``) and result rows
  left out (``dropped``). Nothing is dropped silently.

Result rows. 290 models are listed twice in every results file, at two resolutions: their
pretrained config's ``input_size`` and its larger ``test_input_size``. Both are kept, as two
models of the zoo: ``name`` at the config's size and ``name@SIZE`` at the test size (the same
weights, a different choice for a practitioner: more accuracy for more compute; the build checks
the first against timm's config). ``models_info`` gives the pairing (``test_img_size``).
The model list is that of ``results-imagenet.csv``;
a model found only in another file is dropped (``resmlp_24_224.fb_dino``, only in ImageNet-A,
scores 0.5%: chance on 200 classes, a self-supervised checkpoint without a trained classifier);
a model missing from a file has a missing cell (``resnet50.tv_in1k`` on ImageNet-A).

Pretraining indicators (0/1), read from the pretrained tag split on ``_`` (whole tokens only, so
``c2ns`` is not ``ns`` and ``lion``, an optimizer, is no data set):

- ``pt_in12k``: token ``in12k`` (ImageNet-12k, timm's 11,821-class subset of ImageNet-22k).
- ``pt_in22k``: ``in22k`` or ``in21k`` (the same ImageNet-21k/22k data set, two names).
- ``pt_web``: larger web-scale or private data: ``laion2b``, ``laiona`` (LAION), ``openai``
  (CLIP's WIT-400M), ``webli`` (SigLIP), ``clip`` (a CLIP image tower), ``m38m``/``m30m`` (EVA's
  merged 38M/30M image sets), ``ig1b`` (Instagram 1B), ``yfcc100m``, ``jft`` (JFT-300M),
  ``swag`` (Instagram 3.6B hashtags), ``seer`` (Instagram 1B, uncurated).
- ``pt_image_text``: image-text contrastive pretraining: ``clip``, ``laion2b``, ``laiona``,
  ``openai``, ``webli``.
- ``pt_in1k``: none of the above and no other extra data: ImageNet-1k only. ``6m``
  (``bd_ssld_6m``: 6M images for SSLD distillation, source not named in the tag) counts as
  extra data with no source flag.
- ``pt_selfsup``: self-supervised pretraining: ``mae``, ``mim`` (masked image modelling),
  ``fcmae`` (ConvNeXt V2), ``seer`` (SwAV), ``dino``, ``m30m`` (EVA: masked modelling of CLIP
  features); plus the BEiT families (architecture names starting ``beit``: ``beit_``,
  ``beitv2_``, ``beit3_``), whose pretraining is masked image (BEiT-3: masked data) modelling
  by definition; their tags name only the data.
- ``pt_semisup``: semi-supervised: ``ssl`` (YFCC100M), ``swsl`` (semi-weakly supervised, IG-1B),
  ``ns`` (Noisy Student, JFT).
- ``pt_distilled``: knowledge distillation: tokens ``dist``, ``distilled``, ``ssld``, or an
  architecture name with a ``distilled`` part (DeiT/PiT distilled heads).
- ``pt_adversarial``: adversarial training: ``adv`` (``tf_adv``, ``tf_ens_adv``), ``ap``
  (AdvProp).

``model_metadata-in1k.csv`` labels (``in1k``, ``in1k-dist``, ``in21k``, ``in21k-selfsl``,
``jft300m-ns``, ``ig1b-wsl``, ``ig1b-swsl``, ``yfc-semisl``, ``in1k-ap``, ``in1k-adv``) describe
an architecture's legacy, pre-tag weights, so a label applies to a tagged model only when timm's
deprecation table maps the old name to exactly that model (``swsl_resnet50`` ->
``resnet50.fb_swsl_ig1b_ft_in1k``; ``alias``) or the old name is the architecture and the model is
that architecture's default tag in timm (``default``). Applied to every tag of an architecture it
would be wrong (``vit_base_patch16_224`` is ``in21k`` but ``vit_base_patch16_224.augreg_in1k``
is not). Matched labels are ORed into the indicators; in this commit they agree with the tags
(plus the beit rule) for every matched model, which the build counts and prints.

Architectures: every unique architecture is built on the meta device (no weights) from
``timm:<name>`` with ``pretrained=False`` and timm's default config, captured and described by
:func:`fennec_core.architecture.encoding.describe_architecture` (cached by architecture key under
``$FENNEC_CACHE_DIR``; ``--no-cache`` captures again), then graph2vec (the paper's settings,
deterministic) is fitted on all of their graphs and the vectors are reduced to 4 principal
components. Six architectures' default configs carry a head other than 1,000 classes
(``tiny_vit_*_224``: 21,841; ``vit_base_patch16_224_miil``: 11,221;
``vit_so400m_patch14_siglip_*378``: none), so their architecture ``log10_params`` differs a
little from ``log10_param_count`` of the evaluated model.

Deterministic: rows sorted, numbers formatted, gzip without timestamps. Needs timm,
karateclub (graph2vec) and scikit-learn. Run from the repository root:
``HF_HUB_OFFLINE=1 python scripts/zoos/build_timm_zoo.py``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import shutil
import sys
import time
import traceback
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from zoo_tables import gz_csv, write_history  # noqa: E402

#: task id -> results file
TASK_FILES: dict[str, str] = {
    "imagenet": "results-imagenet.csv",
    "imagenet_real": "results-imagenet-real.csv",
    "imagenet_v2": "results-imagenetv2-matched-frequency.csv",
    "imagenet_sketch": "results-sketch.csv",
    "imagenet_a": "results-imagenet-a.csv",
    "imagenet_r": "results-imagenet-r.csv",
}
REFERENCE_TASK = "imagenet"

IN12K = frozenset({"in12k"})
IN22K = frozenset({"in22k", "in21k"})
IMAGE_TEXT = frozenset({"clip", "laion2b", "laiona", "openai", "webli"})
WEB = IMAGE_TEXT | {"m38m", "m30m", "ig1b", "yfcc100m", "jft", "swag", "seer"}
OTHER_EXTRA = frozenset({"6m"})
SELFSUP = frozenset({"mae", "mim", "fcmae", "seer", "dino", "m30m"})
SELFSUP_FAMILIES = ("beit",)  # architecture name prefixes: beit_*, beitv2_*, beit3_*
SEMISUP = frozenset({"ssl", "swsl", "ns"})
DISTILLED = frozenset({"dist", "distilled", "ssld"})
ADVERSARIAL = frozenset({"adv", "ap"})

PRETRAIN_COLUMNS = ("pt_in1k", "pt_in12k", "pt_in22k", "pt_web", "pt_image_text", "pt_selfsup", "pt_semisup",
                    "pt_distilled", "pt_adversarial")
#: model_metadata-in1k.csv labels -> indicators they imply
METADATA_FLAGS: dict[str, frozenset[str]] = {
    "in1k": frozenset(),
    "in1k-dist": frozenset({"pt_distilled"}),
    "in1k-ap": frozenset({"pt_adversarial"}),
    "in1k-adv": frozenset({"pt_adversarial"}),
    "in21k": frozenset({"pt_in22k"}),
    "in21k-selfsl": frozenset({"pt_in22k", "pt_selfsup"}),
    "jft300m-ns": frozenset({"pt_web", "pt_semisup"}),
    "ig1b-wsl": frozenset({"pt_web"}),
    "ig1b-swsl": frozenset({"pt_web", "pt_semisup"}),
    "yfc-semisl": frozenset({"pt_web", "pt_semisup"}),
}
ARCH_COLUMNS = ("log10_params", "conv_linear_layers", "depth", "log10_flops", "input_size")
ENCODER, DIMS = "graph2vec", 4


def split_name(model: str) -> tuple[str, str]:
    """``convnext_tiny.fb_in22k_ft_in1k`` -> (``convnext_tiny``, ``fb_in22k_ft_in1k``)."""
    arch, _, tag = model.partition(".")
    return arch, tag.partition("@")[0]


def base_name(model: str) -> str:
    """``convnext_tiny.fb_in22k_ft_in1k@288`` (a model evaluated at its test resolution) -> the timm name."""
    return model.partition("@")[0]


def parse_tag(model: str, metadata_label: str | None = None) -> dict[str, int]:
    """Pretraining indicators of a tagged timm model (rules in the module docstring), with a
    matched ``model_metadata-in1k.csv`` label ORed in."""
    arch, tag = split_name(model)
    tokens = set(tag.split("_")) if tag else set()
    flags = {
        "pt_in12k": bool(tokens & IN12K),
        "pt_in22k": bool(tokens & IN22K),
        "pt_web": bool(tokens & WEB),
        "pt_image_text": bool(tokens & IMAGE_TEXT),
        "pt_selfsup": bool(tokens & SELFSUP) or arch.startswith(SELFSUP_FAMILIES),
        "pt_semisup": bool(tokens & SEMISUP),
        "pt_distilled": bool(tokens & DISTILLED) or "distilled" in arch.split("_"),
        "pt_adversarial": bool(tokens & ADVERSARIAL),
    }
    if metadata_label is not None:
        for key in METADATA_FLAGS[metadata_label]:
            flags[key] = True
    extra = flags["pt_in12k"] or flags["pt_in22k"] or flags["pt_web"] or bool(tokens & OTHER_EXTRA)
    flags["pt_in1k"] = not extra
    return {c: int(flags[c]) for c in PRETRAIN_COLUMNS}


def pretrain_label(flags: dict[str, int]) -> str:
    """A short readable summary of the indicators (``in22k+in1k``, ``web,image-text+in1k``, ...)."""
    data = [n for n, c in (("in12k", "pt_in12k"), ("in22k", "pt_in22k"), ("web", "pt_web")) if flags[c]]
    how = [n for n, c in (("image-text", "pt_image_text"), ("self-sup", "pt_selfsup"), ("semi-sup", "pt_semisup"),
                          ("distilled", "pt_distilled"), ("adversarial", "pt_adversarial")) if flags[c]]
    base = "in1k" if flags["pt_in1k"] else "+".join([*data, "in1k"]) if data else "extra+in1k"
    return base + (f" ({', '.join(how)})" if how else "")


def _number(text: str) -> float:
    return float(text.replace(",", "").strip())  # param_count is written "1,014.45"


def read_results(data: Path) -> tuple[list[str], dict[str, dict[str, Any]], dict[str, dict[str, float]],
                                      list[tuple[str, str, str]]]:
    """(models, per-model evaluation info, scores per model and task, notes) from the six files."""
    notes: list[tuple[str, str, str]] = []
    rows: dict[str, dict[str, list[dict[str, str]]]] = {}
    for task, name in TASK_FILES.items():
        listed: dict[str, list[dict[str, str]]] = defaultdict(list)
        with open(data / name, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                listed[row["model"].strip()].append(row)
        per_model: dict[str, list[dict[str, str]]] = {}
        for m, found in listed.items():  # a second resolution is a second model, ``name@size``
            found = sorted(found, key=lambda r: int(r["img_size"]))
            per_model[m] = [found[0]]
            for r in found[1:]:
                per_model[f"{m}@{int(r['img_size'])}"] = [r]
        rows[task] = per_model
    models = sorted(rows[REFERENCE_TASK])
    info: dict[str, dict[str, Any]] = {}
    scores: dict[str, dict[str, float]] = {m: {} for m in models}
    for task, per_model in rows.items():
        for m in sorted(set(per_model) - set(models)):
            notes.append(("dropped", f"{m}/{task}", f"only in {TASK_FILES[task]}, not in {TASK_FILES[REFERENCE_TASK]} "
                          f"(top1 {per_model[m][0]['top1']}%)"))
        for m in models:
            if m not in per_model:
                notes.append(("missing_score", f"{m}/{task}", f"not listed in {TASK_FILES[task]}"))
                continue
            found = sorted(per_model[m], key=lambda r: int(r["img_size"]))
            if len({int(r["img_size"]) for r in found}) != len(found):
                raise ValueError(f"{TASK_FILES[task]}: {m} listed twice at the same img_size")
            row = found[0]
            top1 = _number(row["top1"])
            if not 0.0 <= top1 <= 100.0:
                raise ValueError(f"{TASK_FILES[task]}: {m}: top1 {top1} is not a percentage")
            scores[m][task] = round(top1 / 100.0, 8)
            meta = {"img_size": int(row["img_size"]), "crop_pct": _number(row["crop_pct"]),
                    "param_count": _number(row["param_count"]), "interpolation": row["interpolation"].strip(),
                    "test_img_size": None}
            if m not in info:
                info[m] = meta
            elif info[m] != meta:
                notes.append(("inconsistent", f"{m}/{task}", f"evaluation settings differ from "
                              f"{TASK_FILES[REFERENCE_TASK]}: {meta} vs {info[m]}"))
    return models, info, scores, notes


def read_metadata(data: Path, models: list[str]) -> dict[str, tuple[str, str, str]]:
    """model -> (metadata label, how matched: alias|default, old name), for the models a label
    applies to (see the module docstring)."""
    import timm.models._registry as registry
    from timm.models import get_pretrained_cfg

    aliases = dict(registry._deprecated_models)  # old name -> new tagged name
    names = set(models)
    by_arch: dict[str, list[str]] = defaultdict(list)
    for m in models:
        by_arch[split_name(m)[0]].append(m)
    out: dict[str, tuple[str, str, str]] = {}
    with open(data / "model_metadata-in1k.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            old, label = row["model"].strip(), row["pretrain"].strip()
            if label not in METADATA_FLAGS:
                raise ValueError(f"model_metadata-in1k.csv: unknown pretrain label {label!r} ({old})")
            if old in aliases and aliases[old] in names:
                out[aliases[old]] = (label, "alias", old)
            elif old in by_arch:
                cfg = get_pretrained_cfg(old)
                default = f"{old}.{cfg.tag}" if cfg is not None and cfg.tag else None
                if default in names and default not in out:
                    out[default] = (label, "default", old)
    return out


def check_resolutions(models: list[str], info: dict[str, dict[str, Any]]) -> int:
    """Models whose kept img_size is not their timm pretrained config's input_size (printed)."""
    from timm.models import get_pretrained_cfg

    off = 0
    for m in models:
        if "@" in m:  # evaluated at its test resolution on purpose
            continue
        cfg = get_pretrained_cfg(m)
        if cfg is None or int(cfg.input_size[-1]) != info[m]["img_size"]:
            off += 1
            print(f"note: {m}: kept img_size {info[m]['img_size']}, timm config input_size "
                  f"{None if cfg is None else cfg.input_size}", file=sys.stderr)
    return off


def describe_all(archs: list[str], cache: Any, progress: bool = True) -> tuple[dict[str, Any], dict[str, dict],
                                                                                 dict[str, str]]:
    """(graphs, features, failures) of ``timm:<arch>`` for every architecture, in order."""
    from fennec_core.architecture.encoding import describe_architecture

    graphs: dict[str, Any] = {}
    feats: dict[str, dict] = {}
    failed: dict[str, str] = {}
    t0 = time.perf_counter()
    for i, arch in enumerate(archs, 1):
        ref = f"timm:{arch}"
        try:
            graph, f = describe_architecture(ref, ref, cache=cache)
        except Exception as exc:  # recorded with its reason and where it was raised, never dropped silently
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            where = f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
            failed[arch] = f"{type(exc).__name__}: {exc} (at {where})".replace("\n", " ")[:500]
            print(f"FAILED {ref}: {failed[arch]}", file=sys.stderr)
            continue
        graphs[arch], feats[arch] = graph, f
        if progress and (i % 50 == 0 or i == len(archs)):
            print(f"  architectures {i}/{len(archs)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return graphs, feats, failed


def build(data: Path, out: Path, *, cache: bool = True, limit: int | None = None) -> dict[str, Any]:
    """Write the zoo's tables into ``out``; returns counts for the summary."""
    import timm.models._registry as registry

    from fennec_core.architecture.encoding import encode_graphs
    from fennec_core.architecture.graph_io import ArchCache

    models, info, scores, notes = read_results(data)
    metadata = read_metadata(data, models)
    off_res = check_resolutions(models, info)
    archs = sorted({split_name(m)[0] for m in models})
    todo = archs[:limit] if limit else archs
    graphs, feats, failed = describe_all(todo, ArchCache() if cache else None)
    for arch in archs[len(todo):]:
        failed[arch] = "skipped (--limit)"
    captured = [a for a in todo if a in graphs]
    t_enc = time.perf_counter()
    extra, encoding = encode_graphs([graphs[a] for a in captured], encoder=ENCODER, dims=DIMS)
    t_enc = time.perf_counter() - t_enc
    pcs = dict(zip(captured, extra, strict=True))
    pc_cols = list(extra[0])

    for m in models:
        if "@" in m and "@" not in base_name(m) and base_name(m) in info:
            info[base_name(m)]["test_img_size"] = info[m]["img_size"]
    flags = {m: parse_tag(m, metadata[base_name(m)][0] if base_name(m) in metadata else None) for m in models}
    metadata_adds = sum(flags[m] != parse_tag(m) for m in models)
    out.mkdir(parents=True, exist_ok=True)
    tasks = list(TASK_FILES)
    cells = write_history(out / "history.csv.gz", models, tasks, scores)
    header = ["model", "architecture", "log10_param_count", "img_size", "crop_pct", *PRETRAIN_COLUMNS,
              *ARCH_COLUMNS, *pc_cols]
    fh, w = gz_csv(out / "models.csv.gz")
    with fh:
        w.writerow(header)
        for m in models:
            arch, r = split_name(m)[0], info[m]
            row = [m, f"timm:{arch}", f"{math.log10(r['param_count'] * 1e6):.6f}", r["img_size"],
                   f"{r['crop_pct']:.3f}", *(flags[m][c] for c in PRETRAIN_COLUMNS)]
            if arch in feats:
                f = feats[arch]
                row += [f"{f[c]:.6f}" if "log10" in c else int(f[c]) for c in ARCH_COLUMNS]
                row += [f"{pcs[arch][c]:.6f}" for c in pc_cols]
            else:  # empty cells: read_models leaves them out of the card's meta
                row += [""] * (len(ARCH_COLUMNS) + len(pc_cols))
            w.writerow(row)
    fh, w = gz_csv(out / "models_info.csv.gz")
    with fh:
        w.writerow(["model", "architecture", "family", "pretrain_tag", "pretrain", "metadata_pretrain",
                    "metadata_match", "param_count_m", "img_size", "test_img_size", "crop_pct", "interpolation"])
        for m in models:
            arch, tag = split_name(m)
            r = info[m]
            label, how, old = metadata.get(base_name(m), ("", "", ""))
            w.writerow([m, f"timm:{arch}", registry._model_to_module.get(arch, ""), tag, pretrain_label(flags[m]),
                        label, f"{how}:{old}" if how else "", f"{r['param_count']:.2f}", r["img_size"],
                        r["test_img_size"] or "", f"{r['crop_pct']:.3f}", r["interpolation"]])
    with gzip.GzipFile(out / "archi.json.gz", "wb", mtime=0) as fh:
        fh.write(json.dumps(encoding.to_document(), separators=(",", ":")).encode())
    failures = [("architecture", f"timm:{a}", failed[a]) for a in sorted(failed)] + sorted(notes)
    with open(out / "failures.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["kind", "item", "reason"])
        w.writerows(failures)
    shutil.copyfile(HERE / "timm_tasks.csv", out / "tasks.csv")
    with open(HERE / "timm_tasks.csv", newline="", encoding="utf-8") as fh:
        described = [r["task"] for r in csv.DictReader(fh)]
    if sorted(described) != sorted(tasks):
        raise ValueError(f"timm_tasks.csv and the history disagree on tasks: {sorted(set(described) ^ set(tasks))}")
    return {"models": len(models), "architectures": len(archs), "captured": len(captured), "failed": failed,
            "cells": cells, "notes": notes, "metadata_matched": len(metadata), "metadata_adds": metadata_adds,
            "two_resolutions": sum(info[m]["test_img_size"] is not None for m in models),
            "off_resolution": off_res, "nodes": sum(graphs[a].graph.number_of_nodes() for a in captured),
            "encode_s": t_enc}


def fit_store(folder: Path, *, progress: bool = True):  # -> Fennec
    """Fit the zoo on the tables in ``folder`` and save it as ``folder/zoo.zarr``.

    The models' architecture features come with the architecture encoding (``archi.json.gz``)
    so ``add-model --model timm:NAME`` encodes a new model in the same basis; the six sets'
    descriptions are embedded by the ``text`` proxy for ``rank --describe``. Plain z-scores
    (the published method): the floored ``zscore-clip`` changes nothing measurable here. No meta
    score: on these six closely related test sets the history alone ranks best (leave-one-task-out
    weighted tau 0.946 without the meta score, 0.922 with it; docs/zoos.md); the model features
    still place new models (``add-model``).
    """
    sys.path.insert(0, str(ROOT))
    from fennec_core import Fennec
    from fennec_core.architecture.encoding import ArchiEncoding
    from fennec_core.io.tables import read_history, read_models, read_tasks
    from fennec_core.task.proxies import description_embeddings

    with gzip.open(folder / "archi.json.gz", "rt", encoding="utf-8") as fh:
        encoding = ArchiEncoding.from_document(json.load(fh))
    tasks = read_tasks(folder / "tasks.csv")
    embeddings, spec = description_embeddings(tasks, "text")
    engine = Fennec(use_meta=False, seed=0, device="cpu").fit(
        read_history(folder / "history.csv.gz"), read_models(folder / "models.csv.gz"), tasks, archi=encoding,
        task_embeddings=embeddings, proxy=spec, progress=progress)
    engine.save(folder / "zoo.zarr")
    return engine


def main(argv: list[str] | None = None) -> int:
    """Command line: build the tables and print a summary."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "timm_results",
                   help="folder with timm's results-*.csv and model_metadata-in1k.csv "
                        "(default tests/data/timm_results, their copy in this repository)")
    p.add_argument("--out", type=Path, default=ROOT / "fennec_core" / "data" / "timm", help="output folder")
    p.add_argument("--no-cache", action="store_true", help="capture every architecture again ($FENNEC_CACHE_DIR)")
    p.add_argument("--limit", type=int, default=None,
                   help="capture only the first N architectures (development; the others are listed as skipped)")
    p.add_argument("--tables-only", action="store_true", help="write the tables, do not fit the store")
    p.add_argument("--fit-only", action="store_true", help="fit the store from the tables already in --out")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if args.fit_only:
        fit_store(args.out)
        print(f"fitted {args.out / 'zoo.zarr'} in {time.perf_counter() - t0:.1f} s")
        return 0
    n = build(args.data, args.out, cache=not args.no_cache, limit=args.limit)
    kinds = defaultdict(int)
    for kind, _, _ in n["notes"]:
        kinds[kind] += 1
    print(f"models: {n['models']} ({n['two_resolutions']} also at their test resolution, as name@SIZE; "
          f"{n['off_resolution']} not at their timm config's input_size)")
    print(f"history: {n['cells']} cells over {len(TASK_FILES)} tasks; notes: "
          + (", ".join(f"{v} {k}" for k, v in sorted(kinds.items())) or "none"))
    skipped = [a for a, why in n["failed"].items() if why.startswith("skipped")]
    failed = {a: why for a, why in n["failed"].items() if a not in skipped}
    print(f"unique architectures: {n['architectures']}; captured: {n['captured']} ({n['nodes']} graph nodes); "
          f"failures: {len(failed)}" + (f"; skipped (--limit): {len(skipped)}" if skipped else ""))
    for arch, why in sorted(failed.items()):
        print(f"  failed timm:{arch}: {why}")
    print(f"metadata labels matched to {n['metadata_matched']} models; they changed the tag's indicators of "
          f"{n['metadata_adds']}")
    print(f"graph2vec on {n['captured']} graphs: {n['encode_s']:.1f} s; total {time.perf_counter() - t0:.1f} s; "
          f"written to {args.out}")
    if not args.tables_only:
        fit_store(args.out)
        print(f"fitted {args.out / 'zoo.zarr'}; total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
