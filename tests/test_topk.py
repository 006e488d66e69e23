"""top_k and transfer_top_k return exactly the head of `order`, ties, NaN and infinities included.

No timings here: speed is measured in benchmarks/bench_scale.py.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fennec_core.scoring import transfer
from fennec_core.scoring.transfer import order, top_k, transfer_scores, transfer_top_k

# few distinct values, so ties are common; signed zeros and non-finite values rank as order ranks them
VALUES = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, 1e300, -1e300, np.nan, np.inf, -np.inf])
SCORES = st.lists(st.one_of(VALUES, st.floats(-10, 10)), max_size=80).map(np.array)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(s=SCORES, k=st.integers(0, 90), step=st.sampled_from([1, 3, 16, transfer.TOP_K_STEP]))
def test_top_k_is_the_head_of_order(s, k, step):
    with mock.patch.object(transfer, "TOP_K_STEP", step):
        got = top_k(s, k)
    np.testing.assert_array_equal(got, order(s)[:k])


@pytest.mark.parametrize("s", [
    np.arange(5000.0),  # ascending: every chunk beats the running threshold
    np.zeros(5000),  # all tied: model order decides
    np.full(5000, np.nan),
    np.r_[np.full(2500, -np.inf), np.full(2500, np.inf)],  # +inf ranks last, like NaN
    np.r_[np.ones(3000), np.arange(2000.0)][::-1].copy(),
    np.r_[np.zeros(300), np.nan, np.ones(4699)],  # a NaN must not hide the better scores of its chunk
])
@pytest.mark.parametrize("k", [0, 1, 32, 4999, 5000, 6000])
def test_top_k_adversarial(s, k):
    with mock.patch.object(transfer, "TOP_K_STEP", 256):
        np.testing.assert_array_equal(top_k(s, k), order(s)[:k])


def test_top_k_rejects_a_negative_k_and_2d_scores():
    with pytest.raises(ValueError, match="non-negative"):
        top_k(np.ones(3), -1)
    with pytest.raises(ValueError, match="1-D"):
        top_k(np.ones((2, 3)), 1)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(m=st.integers(0, 60), t=st.integers(1, 3), k=st.integers(0, 70), chunk=st.sampled_from([1, 5, 64]),
       seed=st.integers(0, 2**16), nan=st.booleans(), chunk_bytes=st.sampled_from([32, 96, transfer.CPU_CHUNK_BYTES]))
def test_transfer_top_k_is_the_head_of_order(m, t, k, chunk, seed, nan, chunk_bytes):
    rng = np.random.default_rng(seed)
    U = rng.integers(-2, 3, size=(m, 4)).astype(float)  # small integers: exact products, many ties
    V = rng.integers(-2, 3, size=(t, 4)).astype(float)
    if nan and m:
        U[rng.integers(0, m)] = np.nan
    with mock.patch.object(transfer, "CPU_CHUNK_BYTES", chunk_bytes):  # 1 or 3 models a chunk: many blocks
        idx, sc = transfer_top_k(U, V, k, device="cpu", chunk=chunk)
    S = V @ U.T
    assert idx.shape == sc.shape == (t, min(k, m))
    for i in range(t):
        np.testing.assert_array_equal(idx[i], order(S[i])[:k])
        np.testing.assert_array_equal(sc[i], S[i, idx[i]])


@pytest.mark.parametrize("layout", ["C", "F", "float32", "strided"])
def test_scores_are_float64_exact_for_any_layout(layout):
    rng = np.random.default_rng(3)
    U = rng.standard_normal((20_000, 32))
    U = {"C": U, "F": np.asfortranarray(U), "float32": U.astype(np.float32), "strided": U[::2]}[layout]
    v = rng.standard_normal((1, 32))
    ref = U.astype(np.float64) @ v[0]
    for device in ("cpu", torch.device("cpu"), "auto"):
        np.testing.assert_allclose(transfer_scores(U, v, device=device)[0], ref, rtol=1e-12, atol=0)
    idx, sc = transfer_top_k(U, v, 32, device="cpu")
    np.testing.assert_array_equal(idx[0], order(ref)[:32])
    np.testing.assert_allclose(sc[0], ref[idx[0]], rtol=1e-12, atol=0)


def test_cpu_chunks_cover_a_zoo_larger_than_one_chunk():
    rng = np.random.default_rng(4)
    U, V = rng.standard_normal((3 * transfer._cpu_rows(np.empty((1, 8))) + 5, 8)), rng.standard_normal((2, 8))
    np.testing.assert_allclose(transfer_scores(U, V, device="cpu"), V @ U.T, rtol=1e-12, atol=0)
    idx, _ = transfer_top_k(U, V, 10, device="cpu")
    np.testing.assert_array_equal(idx, np.stack([order(s)[:10] for s in V @ U.T]))


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_the_torch_path_selects_the_same_models(chunk):
    """The device code (run here in torch on the CPU, with tensor inputs) matches NumPy's."""
    rng = np.random.default_rng(5)
    U = rng.integers(-2, 3, size=(300, 4)).astype(float)
    U[7] = np.nan
    V = rng.integers(-2, 3, size=(3, 4)).astype(float)
    a = transfer_top_k(U, V, 40, device="cpu")
    b = transfer_top_k(torch.as_tensor(U), torch.as_tensor(V), 40, device="cpu", chunk=chunk)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_top_k_matches_cpu():
    rng = np.random.default_rng(6)
    U, V = rng.standard_normal((50_000, 32)), rng.standard_normal((2, 32))
    U[:100] = U[100:200]  # tied models
    a = transfer_top_k(U, V, 64, device="cpu")
    b = transfer_top_k(U, V, 64, device="cuda", chunk=4096)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)
