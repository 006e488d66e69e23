"""What the real zoos needed: the floored ``zscore-clip`` normalisation, the cross-validated
``kernel-ridge-cv`` task mapping, and gzip-compressed tables."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from fennec_core import Fennec
from fennec_core.errors import InputError
from fennec_core.evaluation import evaluate
from fennec_core.history.normalize import TaskNormalizer
from fennec_core.records import History
from fennec_core.task.mapping import CV_ALPHAS, TaskMapper


def test_zscore_clip_floors_below_the_mean_and_keeps_nan():
    scores = np.array([[0.9, 0.1], [0.5, 0.5], [0.1, np.nan], [0.5, 0.9]])
    mask = ~np.isnan(scores)
    norm = TaskNormalizer.fit(np.nan_to_num(scores), mask, "zscore-clip")
    plain = TaskNormalizer.fit(np.nan_to_num(scores), mask, "zscore")
    z, zp = norm.transform(scores), plain.transform(scores)
    assert np.isnan(z[2, 1])
    ok = mask
    np.testing.assert_allclose(z[ok], np.maximum(zp[ok], 0.0))
    assert (z[ok] >= 0).all() and (z[ok] > 0).any()
    np.testing.assert_allclose(norm.inverse(z)[0, 0], 0.9)  # above the floor: undone exactly


def _collapsing_history(seed: int = 0, m: int = 120, n: int = 10) -> History:
    """Models with a true quality; each fine-tuning run collapses (score near 0) with 8% chance,
    independently per cell: a model's collapses elsewhere say nothing about a new task."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=m)
    task_w = rng.uniform(0.5, 1.5, n)
    scores = 0.7 + 0.05 * np.outer(quality, task_w) + 0.01 * rng.normal(size=(m, n))
    collapse = rng.random((m, n)) < 0.08
    scores[collapse] = rng.uniform(0.05, 0.2, collapse.sum())
    return History([f"m{i}" for i in range(m)], [f"t{j}" for j in range(n)], scores, np.ones((m, n), bool))


@pytest.mark.slow
def test_zscore_clip_ranks_past_collapsed_runs_better_than_static():
    history = _collapsing_history()
    clipped = evaluate(Fennec(normalization="zscore-clip", factorizer_config={"k": 2}, seed=0), history)
    plain = evaluate(Fennec(normalization="zscore", factorizer_config={"k": 2}, seed=0), history)
    static = clipped.mean("static")["weighted_tau"]
    assert clipped.mean()["weighted_tau"] > static + 0.05
    assert clipped.mean()["weighted_tau"] > plain.mean()["weighted_tau"] + 0.05


def test_unknown_normalization_names_the_choices():
    with pytest.raises(InputError, match="zscore-clip"):
        Fennec(normalization="clip")


def _tasks(signal: bool, n: int = 14, d: int = 6, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, k))
    if signal:  # the embeddings determine the vectors
        embeddings = np.hstack([vectors, 0.01 * rng.normal(size=(n, d - k))])
    else:
        embeddings = rng.normal(size=(n, d))
    return ({f"t{i}": embeddings[i:i + 1] for i in range(n)}, {f"t{i}": vectors[i] for i in range(n)})


def test_kernel_ridge_cv_shrinks_a_proxy_without_signal_to_the_mean():
    emb, vec = _tasks(signal=False)
    mapper = TaskMapper("kernel-ridge-cv").fit(emb, vec)
    assert mapper.alpha >= 1.0
    V = np.array(list(vec.values()))
    spread = np.sqrt(((V - V.mean(axis=0)) ** 2).sum(axis=1).mean())
    new = np.random.default_rng(5).normal(size=(1, 6))
    shift = np.linalg.norm(mapper.predict(new) - V.mean(axis=0))
    assert shift < 0.15 * spread  # all but the mean task vector
    assert shift < np.linalg.norm(TaskMapper("kernel-ridge").fit(emb, vec).predict(new) - V.mean(axis=0))


def test_kernel_ridge_cv_keeps_a_proxy_with_signal():
    emb, vec = _tasks(signal=True)
    mapper = TaskMapper("kernel-ridge-cv").fit(emb, vec)
    assert mapper.alpha in CV_ALPHAS and mapper.alpha <= 1.0
    fixed = TaskMapper("kernel-ridge", alpha=1e6).fit(emb, vec)
    errors = [np.linalg.norm(m.predict(emb["t0"]) - vec["t0"]) for m in (mapper, fixed)]
    assert errors[0] < errors[1]


def test_engine_accepts_kernel_ridge_cv():
    assert Fennec(task_mapping="kernel-ridge-cv").task_mapping == "kernel-ridge-cv"


def test_gzip_tables_are_read_and_a_damaged_one_is_one_error(tmp_path):
    from fennec_core.io.tables import read_history

    text = "model,task,score\na,t1,0.5\nb,t1,0.7\na,t2,0.1\n"
    (tmp_path / "h.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "h.csv").write_text(text)
    a, b = read_history(tmp_path / "h.csv.gz"), read_history(tmp_path / "h.csv")
    assert a.model_ids == b.model_ids and np.array_equal(a.mask, b.mask)
    (tmp_path / "bad.csv.gz").write_bytes(gzip.compress(text.encode())[:25])
    with pytest.raises(InputError, match="damaged gzip"):
        read_history(tmp_path / "bad.csv.gz")
