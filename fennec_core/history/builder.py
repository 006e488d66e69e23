"""Building a history: score every (model, task) pair with a forward-pass estimator, on Dask.

For each pair, the task's sampled images go through the model; a forward hook on the last
``nn.Linear`` captures its input (the penultimate-layer features) and its output (the source
head's logits, softmaxed into ``probs``); an estimator plugin (``fda`` by default, as Fennec's
history) scores them. Pairs are independent tasks on a Dask cluster: a ``LocalCluster`` by
default, or an existing scheduler. Every finished pair is appended to the output CSV
(``model,task,score``) and flushed at once, so an interrupted run loses nothing already
computed; a rerun skips the pairs already in the file. A worker that dies has its pairs
rescheduled by Dask.

Tasks folder layout: ``TASKS/<task>/<class>/<image files>``. Each task's images are sampled
once on the client (``images_per_task``, class-balanced, seeded), so every model sees the same
images.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from fennec_core.errors import InputError, MissingDependencyError

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


@attrs.frozen
class TaskSample:
    """The images (paths) and integer labels sampled from one task folder."""

    task: str
    files: tuple[str, ...]
    labels: tuple[int, ...]
    classes: tuple[str, ...]


def sample_task(folder: Path, n: int, seed: int) -> TaskSample:
    """Class-balanced, seeded sample of at most ``n`` images from ``folder/<class>/*``."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise InputError(f"{folder}: a task folder needs one subfolder per class (at least 2), found {len(classes)}")
    per_class = {c: sorted(str(p) for p in (folder / c).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
                 for c in classes}
    empty = [c for c, files in per_class.items() if not files]
    if empty:
        raise InputError(f"{folder}: class folder(s) {', '.join(empty)} hold no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    rng = np.random.default_rng([seed, sum(map(ord, folder.name))])
    quota = max(1, n // len(classes))
    files, labels = [], []
    for ci, c in enumerate(classes):
        chosen = rng.permutation(len(per_class[c]))[:quota]
        files += [per_class[c][i] for i in sorted(chosen)]
        labels += [ci] * len(chosen)
    return TaskSample(folder.name, tuple(files), tuple(labels), tuple(classes))


def load_images(files: Sequence[str], size: int) -> np.ndarray:
    """Images as a float32 batch [n, 3, size, size], RGB, ImageNet-normalised."""
    from fennec_core.images import pil, read_rgb

    Image = pil().Image
    out = np.empty((len(files), 3, size, size), dtype=np.float32)
    for i, path in enumerate(files):  # bounded like rank --images: 50 megapixels, refused from the header
        arr = np.asarray(read_rgb(path).resize((size, size), Image.BILINEAR), dtype=np.float64) / 255.0
        out[i] = ((arr - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
    return out


def extract(net: Any, images: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(penultimate features [n, d], source softmax [n, C_src]) via a hook on the last Linear."""
    import torch

    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    feats: list[np.ndarray] = []
    if linears:
        handle = linears[-1].register_forward_hook(lambda _m, inp, _out: feats.append(inp[0].detach().flatten(1).numpy()))
    outs = []
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                outs.append(net(torch.from_numpy(images[start : start + batch_size])).flatten(1).numpy())
    finally:
        if linears:
            handle.remove()
    logits = np.concatenate(outs).astype(np.float64)
    features = np.concatenate(feats).astype(np.float64) if feats else logits
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z)
    probs /= probs.sum(axis=1, keepdims=True)
    return features, probs


_MODEL_CACHE: dict[tuple[str, bool, bool], Any] = {}


def score_pair(model_ref: str, sample: TaskSample, est: Any, allow_random_weights: bool, batch_size: int,
               image_size: int | None, allow_download: bool = False) -> tuple[str, str, float]:
    """Score one (model, task) pair with the built estimator ``est``: runs on a Dask worker.
    Returns (model, task, score)."""
    import torch

    from fennec_core.architecture.sources import build_model, input_size

    torch.set_num_threads(1)
    key = (model_ref, allow_random_weights, allow_download)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = build_model(model_ref, allow_random_weights=allow_random_weights,
                                        allow_download=allow_download)
    net = _MODEL_CACHE[key]
    images = load_images(sample.files, image_size or input_size(net))
    features, probs = extract(net, images, batch_size)
    score = est.score(features=features, labels=np.array(sample.labels), probs=probs)
    return model_ref, sample.task, float(score)


def read_done(out: Path) -> set[tuple[str, str]]:
    """Pairs already in the output CSV; a torn last line (from a crash mid-write) is cut off."""
    if not out.exists():
        return set()
    raw = out.read_bytes()
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
        out.write_bytes(raw)
    done = set()
    rows = list(csv.reader(raw.decode("utf-8").splitlines()))
    if rows and rows[0][:3] != ["model", "task", "score"]:
        raise InputError(f"{out}: exists but is not a history CSV (header {rows[0]}); choose another --out")
    for row in rows[1:]:
        if len(row) >= 3:
            done.add((row[0], row[1]))
    return done


@attrs.define
class BuildReport:
    """What a build did: pairs in total, skipped (already done), computed now, and where."""

    total: int
    skipped: int
    computed: int
    out: str


def build_history(
    models: Sequence[str],
    tasks_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    estimator: str = "fda",
    estimator_config: dict[str, Any] | None = None,
    scheduler: str | None = None,
    n_workers: int = 2,
    images_per_task: int = 100,
    seed: int = 0,
    allow_random_weights: bool = False,
    batch_size: int = 32,
    image_size: int | None = None,
    retries: int = 2,
    progress: bool = True,
    allow_download: bool = False,
    registry: Any = None,
) -> BuildReport:
    """Score every model on every task folder and append the rows to ``out`` (resumable).

    Pretrained weights come from local caches; ``allow_download`` lets timm and pytorchcv fetch
    missing ones (the only network access Fennec ever makes, and only when asked). The estimator
    is built once, by ``registry`` (default: the process's), and sent to the workers."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise MissingDependencyError("build-history runs on Dask: pip install 'dask[distributed]'") from exc
    from tqdm.auto import tqdm

    from fennec_core.architecture.sources import parse_model_ref
    from fennec_core.plugin.registry import default_registry

    for ref in models:
        parse_model_ref(ref)
    est = (registry or default_registry()).build("estimator", estimator, dict(estimator_config or {}))
    root = Path(tasks_dir)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder; give a folder with one subfolder per task")
    task_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not task_dirs:
        raise InputError(f"{root}: holds no task subfolders")
    samples = [sample_task(p, images_per_task, seed) for p in task_dirs]
    out_path = Path(out)
    done = read_done(out_path)
    todo = [(m, s) for m in models for s in samples if (m, s.task) not in done]
    total = len(models) * len(samples)
    if not todo:
        return BuildReport(total, total, 0, str(out_path))
    new_file = not out_path.exists()
    cluster = None
    if scheduler is None:
        # the workers' own logs ("Compute Failed" with a traceback per failed pair) stay quiet: the
        # failure reaches the user once, as the error of the result it broke
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    computed = 0
    try:
        futures = [client.submit(score_pair, m, s, est, allow_random_weights, batch_size, image_size, allow_download,
                                 pure=False, retries=retries, key=f"fennec-{m}-{s.task}-{i}")
                   for i, (m, s) in enumerate(todo)]
        with open(out_path, "a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if new_file:
                writer.writerow(["model", "task", "score"])
                fh.flush()
            for fut in tqdm(as_completed(futures), total=len(futures), desc="build-history", disable=not progress):
                model, task, score = fut.result()
                writer.writerow([model, task, repr(score)])
                fh.flush()
                os.fsync(fh.fileno())
                computed += 1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return BuildReport(total, total - len(todo), computed, str(out_path))
