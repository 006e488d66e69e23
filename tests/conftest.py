"""Shared fixtures: small histories, the published tables (copied in tests/data), a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# One thread per test process (and per CLI process a test starts): the tests' arrays are small,
# pytest-xdist workers already use every core, and on a busy machine torch's and BLAS's thread
# pools make OpenMP barriers wait for descheduled threads -- a small torch training loop then
# runs many times slower. Set before numpy and torch are imported; a user's own setting wins.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings)
import pytest  # noqa: E402

DATA = Path(__file__).parent / "data"

#: The published tables of shared/data, converted to long histories: (file, convert kwargs).
PUBLISHED = {
    "fennec105": ("fennec_105x7_oracle.csv", {"model": ["Architecture"], "task": "Target Dataset", "score": "Oracle"}),
    "parc": ("parc_controlled_oracle.csv",
             {"model": ["Architecture", "Source Dataset"], "task": "Target Dataset", "score": "Oracle"}),
    "modelspider": ("modelspider_single_source_finetune.csv", {"wide": True}),
}


@pytest.fixture
def small_history():
    """A 12-model x 5-task low-rank history with two missing cells (seeded)."""
    from fennec_core.records import History

    rng = np.random.default_rng(0)
    U = rng.random((12, 2))
    V = rng.random((5, 2))
    P = 0.5 + 0.4 * (U @ V.T) / 2 + 0.01 * rng.standard_normal((12, 5))
    mask = np.ones_like(P, dtype=bool)
    mask[3, 1] = mask[7, 4] = False
    return History([f"m{i:02d}" for i in range(12)], [f"t{j}" for j in range(5)], P, mask)


@pytest.fixture
def small_history_csv(tmp_path, small_history):
    from fennec_core.io.tables import write_history

    path = tmp_path / "history.csv"
    write_history(small_history, path)
    return path


@pytest.fixture(params=sorted(PUBLISHED))
def published(request):
    """(name, History) for each published table, converted from its original layout."""
    from fennec_core.io.tables import convert_table

    fname, kwargs = PUBLISHED[request.param]
    return request.param, convert_table(DATA / fname, **kwargs)


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""
    from fennec_core.cli import main

    def run(*argv: str):
        code = main([str(a) for a in argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def proxy_zoo(n_tasks: int = 12, n_models: int = 15, seed: int = 0, items: int = 20):
    """A low-rank zoo whose tasks' embeddings are a noisy linear image of their true vectors:
    (History, {task: [items, 24] embeddings}, model cards with two features from the model vectors)."""
    from fennec_core.records import History, ModelCard

    rng = np.random.default_rng(seed)
    T, M, A = rng.normal(size=(n_tasks, 3)), rng.normal(size=(n_models, 3)), rng.normal(size=(3, 24))
    scores = M @ T.T + rng.normal(scale=0.02, size=(n_models, n_tasks))
    emb = {f"t{j}": (T[j] @ A + rng.normal(scale=0.3, size=(items, 24))).astype(np.float32) for j in range(n_tasks)}
    h = History([f"m{i}" for i in range(n_models)], list(emb), scores, np.ones_like(scores, bool))
    cards = [ModelCard(f"m{i}", None, {"f0": float(M[i, 0]), "f1": float(M[i, 1])}) for i in range(n_models)]
    return h, emb, cards


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Caches (architectures, embeddings) go to a temporary folder, never the user's ~/.cache."""
    monkeypatch.setenv("FENNEC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "fennec-cache"))


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Every test starts with a freshly loaded default plugin registry."""
    from fennec_core import registry

    registry.reset()
    yield
    registry.reset()


def require(module: str):
    """Import an optional dependency or skip, saying why (also when it is installed but broken,
    e.g. a torchvision that does not match the installed torch)."""
    import importlib

    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or RuntimeError from a mismatched torchvision
        pytest.skip(f"{module} unavailable ({type(exc).__name__}: {exc}); `nox -s tests` installs it")


def max_logme_evidence(f: np.ndarray, y: np.ndarray) -> float:
    """LogME's definition computed directly (You et al. 2021): the maximum over (alpha, beta) of
    n/2 ln b + d/2 ln a - n/2 ln 2pi - b/2 |Fm - y|^2 - a/2 |m|^2 - 1/2 ln|aI + bF'F| (the full
    d x d log-determinant), per one-hot column, averaged and divided by n; Nelder-Mead."""
    from scipy.optimize import minimize

    n, d = f.shape

    def neg_evidence(log_ab, col):
        a, b = np.exp(log_ab)
        A = a * np.eye(d) + b * f.T @ f
        m = b * np.linalg.solve(A, f.T @ col)
        ev = (n / 2 * np.log(b) + d / 2 * np.log(a) - n / 2 * np.log(2 * np.pi) - b / 2 * np.sum((f @ m - col) ** 2)
              - a / 2 * m @ m - 0.5 * np.linalg.slogdet(A)[1])
        return -ev / n

    return float(np.mean([-minimize(neg_evidence, [0.0, 0.0], args=((y == c).astype(float),), method="Nelder-Mead",
                                    options={"xatol": 1e-10, "fatol": 1e-12}).fun for c in np.unique(y)]))
