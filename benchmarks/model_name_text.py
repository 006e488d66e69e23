"""Model-side text on hf-nlp: do checkpoint names (``...-finetuned-sst2``) say which model suits a task?

Leave-one-task-out on the bundled hf-nlp zoo (2,696 Hugging Face checkpoints x 36 targets,
IBM model-recycling; see the README's data credits). For each hidden target the rules are:

* ``static-zscore-clip``: each model's mean zscore-clip normalised result over the other
  targets -- the best member of the baseline suite on this table;
* ``name-sim``: cosine similarity between the hidden task's description and the model's name
  (owner and words, ``-``/``_``/``/`` split), both embedded with the bundled text encoder;
* ``name-id``: 1 when the model's name contains the hidden task's id (``sst2``, ``mnli``, ...),
  else 0 -- what a user who names a public dataset gives away;
* ``static + w name-sim`` and ``static + w name-id``: the static rule plus ``w`` times the
  z-scored name signal, ``w`` chosen per fold by inner leave-one-task-out on the training
  targets only (grid below), so nothing is fitted on the hidden task.

Scored by weighted tau against the observed fine-tuning results of the hidden target.
``python benchmarks/model_name_text.py`` prints the table (about a minute, most of it
embedding 2,696 names once).
"""

from __future__ import annotations

import argparse
import re
import time

import numpy as np

GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


def name_words(model_id: str) -> str:
    """A checkpoint id as words: ``textattack/roberta-base-SST-2`` -> ``textattack roberta base SST 2``."""
    return " ".join(w for w in re.split(r"[-_/.\s]+", model_id) if w)


def zscore(x: np.ndarray) -> np.ndarray:
    """x standardised (0 where it has no spread)."""
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    from fennec_core import Fennec
    from fennec_core.evaluation.baselines import normalised_mean
    from fennec_core.evaluation.protocols import is_probe
    from fennec_core.io import catalog
    from fennec_core.metrics import weighted_tau
    from fennec_core.plugin.registry import default_registry

    zoo = Fennec.load(catalog.get("hf-nlp").path, device="cpu").zoo_
    history = zoo.history
    targets = [t for t in history.task_ids if not is_probe(zoo.tasks.get(t))]
    t0 = time.perf_counter()
    proxy = default_registry().create("task_proxy", "text")
    names = proxy.embed([name_words(m) for m in history.model_ids])
    names /= np.linalg.norm(names, axis=1, keepdims=True)
    descriptions = {t: zoo.tasks[t].description for t in targets}
    desc = proxy.embed([descriptions[t] for t in targets])
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    print(f"embedded {len(history.model_ids)} names and {len(targets)} descriptions in "
          f"{time.perf_counter() - t0:.1f} s")
    sim = {t: zscore(names @ desc[i]) for i, t in enumerate(targets)}
    key = {t: re.sub(r"[^a-z0-9]", "", t.lower()) for t in targets}
    squashed = [re.sub(r"[^a-z0-9]", "", m.lower()) for m in history.model_ids]
    hit = {t: zscore(np.array([key[t] in s for s in squashed], dtype=float)) for t in targets}

    def static(train: list[str]) -> np.ndarray:
        cols = np.array([history.task_ids.index(t) for t in train])
        s = normalised_mean(history, "zscore-clip", cols)
        return zscore(np.where(np.isfinite(s), s, np.nanmean(s)))

    def tau(task: str, scores: np.ndarray) -> float:
        truth, observed = history.column(task)
        return weighted_tau(truth[observed], scores[observed])

    def best_w(train: list[str], signal: dict[str, np.ndarray]) -> float:
        """The grid weight with the best mean tau over inner leave-one-task-out folds of ``train``."""
        inner = {t: static([u for u in train if u != t]) for t in train}
        means = [np.mean([tau(t, inner[t] + w * signal[t]) for t in train]) for w in GRID]
        return GRID[int(np.argmax(means))]

    rows = {k: [] for k in ("static-zscore-clip", "name-sim", "name-id", "static + w name-sim",
                            "static + w name-id")}
    chosen = {"sim": [], "id": []}
    for t in targets:
        train = [u for u in targets if u != t]
        s = static(train)
        rows["static-zscore-clip"].append(tau(t, s))
        rows["name-sim"].append(tau(t, sim[t]))
        rows["name-id"].append(tau(t, hit[t]))
        w_sim, w_id = best_w(train, sim), best_w(train, hit)
        chosen["sim"].append(w_sim)
        chosen["id"].append(w_id)
        rows["static + w name-sim"].append(tau(t, s + w_sim * sim[t]))
        rows["static + w name-id"].append(tau(t, s + w_id * hit[t]))
    base = np.mean(rows["static-zscore-clip"])  # name-id alone is constant (tau undefined) where no name matches
    print(f"\nhf-nlp, {len(targets)} targets, leave-one-task-out, weighted tau (mean)")
    print(f"{'rule':<24}{'mean':>8}{'vs static-zscore-clip':>24}{'targets better':>16}")
    for name, values in rows.items():
        better = sum(a > b + 1e-12 for a, b in zip(values, rows["static-zscore-clip"], strict=True))
        mean = np.nanmean(values)
        defined = int(np.isfinite(values).sum())
        print(f"{name:<24}{mean:>8.3f}{mean - base:>+24.3f}{better:>16}"
              + (f"  (defined on {defined} targets)" if defined < len(values) else ""))
    print(f"\nchosen w (name-sim): median {np.median(chosen['sim']):g}, range {min(chosen['sim']):g}.."
          f"{max(chosen['sim']):g}; (name-id): median {np.median(chosen['id']):g}")
    matched = {t: int(np.sum([key[t] in s for s in squashed])) for t in targets}
    print("models whose name contains the target id:", ", ".join(f"{t} {n}" for t, n in matched.items() if n))


if __name__ == "__main__":
    main()
