"""Batched transfer scoring agrees with a plain numpy computation, on CPU and (if present) CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fennec_core.device import resolve_device
from fennec_core.errors import FennecError
from fennec_core.scoring.transfer import order, transfer_scores


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_transfer_scores_match_numpy(chunk):
    rng = np.random.default_rng(0)
    U, V = rng.standard_normal((300, 8)), rng.standard_normal((3, 8))
    np.testing.assert_allclose(transfer_scores(U, V, device="cpu", chunk=chunk), V @ U.T)


def test_order_is_stable_and_nan_last():
    assert order(np.array([0.5, np.nan, 0.5, 0.9])).tolist() == [3, 0, 2, 1]


def test_cuda_request_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(FennecError, match="CUDA is not available"):
        transfer_scores(np.ones((2, 2)), np.ones((1, 2)), device="cuda")
    with pytest.raises(FennecError, match="CUDA is not available"):
        resolve_device("cuda:0")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(1)
    U, V = rng.standard_normal((5000, 16)), rng.standard_normal((4, 16))
    a = transfer_scores(U, V, device="cpu")
    b = transfer_scores(U, V, device="cuda")
    np.testing.assert_allclose(a, b, rtol=1e-10)
    np.testing.assert_array_equal(order(a[0]), order(b[0]))


def test_meta_prediction_equals_its_design_matrix_product():
    """predict folds the products' block into the model weights instead of building the design
    (m, a + b + a*b): the same numbers as the design matrix it was fitted on."""
    from fennec_core.scoring.meta_score import MetaModel, design

    rng = np.random.default_rng(3)
    X, T = rng.normal(size=(40, 4)), rng.normal(size=(6, 3))
    scores = rng.normal(size=(40, 6))
    meta = MetaModel.fit(X, list("abcd"), T, list("xyz"), scores, np.ones_like(scores, bool))
    tx = rng.normal(size=3)
    Xm = (X - meta.model_mean) / meta.model_std
    xt = (tx - meta.task_mean) / meta.task_std
    np.testing.assert_allclose(meta.predict(X, tx), design(Xm, xt) @ meta.coef + meta.intercept, rtol=1e-12, atol=1e-12)
