"""Batched scoring and top-k agree with a plain numpy computation, on CPU and (if present) CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fennec_core.errors import FennecError
from fennec_core.scoring import order, topk, transfer_scores


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_topk_matches_numpy(chunk):
    rng = np.random.default_rng(0)
    U, V = rng.standard_normal((300, 8)), rng.standard_normal((3, 8))
    vals, idx = topk(U, V, 10, device="cpu", chunk=chunk, dtype=torch.float64)
    full = V @ U.T
    expect = np.argsort(-full, axis=1)[:, :10]
    np.testing.assert_array_equal(idx, expect)
    np.testing.assert_allclose(vals, np.take_along_axis(full, expect, 1))
    np.testing.assert_allclose(transfer_scores(U, V, device="cpu", chunk=chunk), full)


def test_order_is_stable_and_nan_last():
    assert order(np.array([0.5, np.nan, 0.5, 0.9])).tolist() == [3, 0, 2, 1]


def test_cuda_request_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(FennecError, match="CUDA is not available"):
        topk(np.ones((2, 2)), np.ones((1, 2)), 1, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(1)
    U, V = rng.standard_normal((5000, 16)), rng.standard_normal((4, 16))
    a = topk(U, V, 32, device="cpu", dtype=torch.float64)[1]
    b = topk(U, V, 32, device="cuda", dtype=torch.float64)[1]
    np.testing.assert_array_equal(a, b)
