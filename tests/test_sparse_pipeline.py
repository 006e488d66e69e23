"""The whole pipeline runs on a history's cells: with dense views forbidden, fit, k="auto",
save, load, rank, warm start, update and the static baseline still work and give the same
numbers as with them allowed."""

from __future__ import annotations

import numpy as np
import pytest

from fennec_core import Fennec, table
from fennec_core.history import factorize
from fennec_core.records import History


def _history(seed: int = 0) -> History:
    rng = np.random.default_rng(seed)
    m, n = 40, 12
    U, V = rng.random((m, 3)), rng.random((n, 3))
    P = 0.5 + 0.1 * (U @ V.T) + 0.01 * rng.standard_normal((m, n))
    mask = rng.random((m, n)) < 0.45
    mask[:, :3] = True  # a few tasks every model has
    return History([f"m{i}" for i in range(m)], [f"t{j}" for j in range(n)], P, mask)


def _run(tmp_path, factorizer: str, config: dict) -> tuple[list, list, list, list]:
    h = _history()
    eng = Fennec(factorizer, factorizer_config=config, device="cpu").fit(h.without_task("t5"))
    eng.save(tmp_path / "zoo")
    back = Fennec.load(tmp_path / "zoo", device="cpu")
    scores, mask = h.column("t5")
    known = {h.model_ids[i]: float(scores[i]) for i in np.flatnonzero(mask)[:3]}
    cold = back.rank("t5", top=5).to_dict()["models"]
    warm = back.rank("t5", known=known, top=5).to_dict()["models"]
    new = History(h.model_ids, ["t5"], scores[:, None], mask[:, None])
    back.update(new)
    after = back.rank("t5", top=5).to_dict()["models"]
    from fennec_core.evaluation import static_scores

    return cold, warm, after, static_scores(h).tolist()


@pytest.mark.parametrize(("factorizer", "config"), [("pmf", {"k": 2}), ("nmf", {"k": "auto", "max_iter": 300})])
@pytest.mark.slow
def test_no_dense_view_is_needed(tmp_path, monkeypatch, factorizer, config):
    allowed = _run(tmp_path / "a", factorizer, config)
    monkeypatch.setattr(table, "DENSE_VIEW_MAX_CELLS", 10)  # any dense view of the 40 x 12 history now fails
    monkeypatch.setattr(factorize, "DENSE_VIEW_MAX_CELLS", 10)
    with pytest.raises(Exception, match="dense view"):
        _history().scores  # noqa: B018 - the guard is on
    sparse = _run(tmp_path / "b", factorizer, config)
    assert sparse == allowed


def test_a_dense_only_factorizer_still_fits_a_small_history_and_is_refused_for_a_large_one(monkeypatch):
    from fennec_plugins.factorizers.nmf import MaskedNMF

    from fennec_core.errors import InputError
    from fennec_core.history.factorize import factorize_cells

    class DenseOnly:
        name = "dense-only"

        def __init__(self):
            self.inner = MaskedNMF(k=2, device="cpu", max_iter=50)

        def fit(self, P, mask):
            return self.inner.fit(P, mask)

    h = _history()
    z = h.values
    a = factorize_cells(DenseOnly(), h.rows, h.cols, z, h.shape)
    b = factorize_cells(MaskedNMF(k=2, device="cpu", max_iter=50), h.rows, h.cols, z, h.shape)
    np.testing.assert_array_equal(a.U, b.U)  # the dense path and fit_cells agree exactly
    monkeypatch.setattr(factorize, "DENSE_VIEW_MAX_CELLS", 10)
    with pytest.raises(InputError, match="'dense-only' needs a dense 40 x 12 matrix .* use one with fit_cells"):
        factorize_cells(DenseOnly(), h.rows, h.cols, z, h.shape)
