"""Transferability estimators: analytic orderings, stated invariances, and values derived by
hand from the published formulas (each expected number says where it comes from)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fennec_core import registry
from fennec_core.errors import InputError

ALL = ["fda", "gbc", "hscore", "hscore-shrinkage", "leep", "lfc", "logme", "nce", "nleep", "otce",
       "pactran-dirichlet", "sfda", "transrate"]


def _data(seed=0, n=240, d=24, C=4):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % C
    centers = 3 * rng.standard_normal((C, d))
    sep = centers[y] + rng.standard_normal((n, d))
    noise = rng.standard_normal((n, d))
    W = rng.standard_normal((d, 12))

    def probs(f):
        logits = f @ W
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    src_y = np.arange(160) % C
    src = centers[src_y] + rng.standard_normal((160, d))
    return y, sep, noise, probs, src, src_y


def _extra(name, src, src_y):
    return {"source_features": src, "source_labels": src_y} if name == "otce" else {}


def test_every_estimator_is_registered():
    assert set(ALL) | {"logme-regression"} == set(registry.available("estimator"))


@pytest.mark.parametrize("name", ALL)
def test_separable_beats_noise(name):
    y, sep, noise, probs, src, src_y = _data()
    est = registry.create("estimator", name)
    good = est.score(features=sep, labels=y, probs=probs(sep), **_extra(name, src, src_y))
    bad = est.score(features=noise, labels=y, probs=probs(noise), **_extra(name, src, src_y))
    assert math.isfinite(good) and math.isfinite(bad)
    assert good > bad


@pytest.mark.parametrize("name", ALL)
def test_invariant_to_sample_order(name):
    y, sep, _, probs, src, src_y = _data(1)
    perm = np.random.default_rng(5).permutation(y.size)
    est = registry.create("estimator", name)
    a = est.score(features=sep, labels=y, probs=probs(sep), **_extra(name, src, src_y))
    b = est.score(features=sep[perm], labels=y[perm], probs=probs(sep)[perm], **_extra(name, src, src_y))
    if name == "nleep":  # a Gaussian mixture fit depends on sample order through its init
        assert b == pytest.approx(a, abs=0.05)
    else:
        assert b == pytest.approx(a, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", ["fda", "hscore", "lfc", "logme", "sfda", "transrate"])
def test_invariant_to_relabelling_classes(name):
    y, sep, _, probs, _, _ = _data(2)
    relabel = np.array([2, 0, 3, 1])[y]
    est = registry.create("estimator", name)
    assert est.score(features=sep, labels=relabel) == pytest.approx(est.score(features=sep, labels=y), rel=1e-6)


def test_hscore_invariant_to_invertible_linear_maps():
    """Bao et al.: H(f) = tr(cov(f)^-1 cov(E[f|y])) is unchanged by f -> A f, A invertible."""
    y, sep, _, _, _, _ = _data(3)
    A = np.random.default_rng(0).standard_normal((24, 24)) + 5 * np.eye(24)
    est = registry.create("estimator", "hscore")
    assert est.score(features=sep @ A.T, labels=y) == pytest.approx(est.score(features=sep, labels=y), rel=1e-6)


def test_nce_and_leep_ignore_source_class_order():
    y, sep, _, probs, _, _ = _data(4)
    p = probs(sep)
    perm = np.random.default_rng(1).permutation(p.shape[1])
    for name in ("nce", "leep", "pactran-dirichlet"):
        est = registry.create("estimator", name)
        assert est.score(labels=y, probs=p[:, perm]) == pytest.approx(est.score(labels=y, probs=p), rel=1e-9)


# --- values derived step by step from the published formulas ---------------------------------

HARD_PROBS = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
HARD_LABELS = np.array([0, 1, 1, 1])


def test_nce_hand_value():
    """Tran et al. 2019, NCE = sum P(y,z) log P(y|z). Here P(y=0,z=0) = P(y=1,z=0) = 1/4 and
    P(y=1,z=1) = 1/2, with P(y|z=0) = 1/2 and P(y=1|z=1) = 1: NCE = 2 * 1/4 log 1/2 = -ln(2)/2."""
    assert registry.create("estimator", "nce").score(labels=HARD_LABELS, probs=HARD_PROBS) == pytest.approx(
        -math.log(2) / 2)


def test_leep_hand_value():
    """Nguyen et al. 2020: with the same hard source outputs, the expected empirical predictor
    gives 1/2 to both samples with z=0 and 1 to both with z=1: LEEP = (2 ln 1/2 + 2 ln 1)/4 = -ln(2)/2."""
    assert registry.create("estimator", "leep").score(labels=HARD_LABELS, probs=HARD_PROBS) == pytest.approx(
        -math.log(2) / 2, abs=1e-9)


def test_hscore_hand_value():
    """Bao et al. 2019 in one dimension: f = [0, 1, 2, 3], y = [0, 0, 1, 1]. var(f) = 1.25,
    class means 0.5 and 2.5 give var(E[f|y]) = 1.0, so H = 1.0 / 1.25 = 0.8."""
    f = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert registry.create("estimator", "hscore").score(features=f, labels=np.array([0, 0, 1, 1])) == pytest.approx(0.8)


def test_gbc_hand_value():
    """Pandy et al. 2022 in one dimension: classes {0, 2} and {4, 6} have means 1 and 5 and
    variance 1, so D_B = 1/8 * 4^2 / 1 + 0 = 2 and GBC = -(BC(0,1) + BC(1,0)) = -2 e^-2."""
    f = np.array([[0.0], [2.0], [4.0], [6.0]])
    est = registry.create("estimator", "gbc", pca=None)
    assert est.score(features=f, labels=np.array([0, 0, 1, 1])) == pytest.approx(-2 * math.exp(-2), rel=1e-5)


def test_otce_identical_tasks_is_zero():
    """Tan et al. 2021: source = target gives the identity coupling, W = 0, and
    H(Y_t | Y_s) = 0 because every target label is fixed by its source label: OTCE = 0."""
    y, sep, *_ = _data(5, n=40)
    est = registry.create("estimator", "otce")
    assert est.score(features=sep, labels=y, source_features=sep, source_labels=y) == pytest.approx(0.0, abs=1e-9)


def test_lfc_of_one_hot_features_is_one():
    """Deshpande et al. 2021: with features equal to the one-hot labels, the centred feature
    kernel is Yc Yc' and the centred +-1 label kernel is 2 Yc Yc': their alignment is 1."""
    y = np.arange(30) % 3
    assert registry.create("estimator", "lfc").score(features=np.eye(3)[y], labels=y) == pytest.approx(1.0)


def test_transrate_hand_value():
    """Huang et al. 2022 in one dimension with eps = 1: Z = [-1, -1, 1, 1] is centred, so
    R(Z) = 1/2 ln(1 + sum z^2 / (n eps)) = 1/2 ln(1 + 4/4) = ln(2)/2. The reference code does
    not re-centre inside a class: Z_0 = [-1, -1] and Z_1 = [1, 1] each give 1/2 ln(1 + 2/2) =
    ln(2)/2, so TransRate = ln(2)/2 - (ln(2)/2 + ln(2)/2)/2 = 0."""
    f = np.array([[-1.0], [-1.0], [1.0], [1.0]])
    est = registry.create("estimator", "transrate", eps=1.0)
    assert est.score(features=f, labels=np.array([0, 0, 1, 1])) == pytest.approx(0.0, abs=1e-12)


def test_logme_is_the_maximum_evidence():
    """You et al. 2021: LogME is max over (alpha, beta) of the evidence
    n/2 ln b + d/2 ln a - n/2 ln 2pi - b/2 |Fm - y|^2 - a/2 |m|^2 - 1/2 ln|aI + bF'F|, averaged
    over one-hot columns and divided by n. Maximise that closed form numerically here."""
    from conftest import max_logme_evidence

    rng = np.random.default_rng(0)
    n, d = 60, 5
    f = rng.standard_normal((n, d))
    y = (f[:, 0] + 0.5 * rng.standard_normal(n) > 0).astype(int)
    expected = max_logme_evidence(f, y)
    assert registry.create("estimator", "logme").score(features=f, labels=y) == pytest.approx(expected, abs=1e-4)


def test_logme_regression():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((100, 6))
    est = registry.create("estimator", "logme-regression")
    good = est.score(features=f, labels=f @ rng.standard_normal(6))
    bad = est.score(features=f, labels=rng.standard_normal(100))
    assert good > bad
    assert est.score(features=f, labels=np.stack([f[:, 0], f[:, 1]], axis=1)) > bad


def test_fda_and_sfda_near_one_when_separable():
    y, sep, *_ = _data(6)
    for name in ("fda", "sfda"):
        assert registry.create("estimator", name).score(features=10 * sep, labels=y) > 0.99


# --- robustness ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_bad_inputs_raise_clear_errors(name):
    y, sep, _, probs, src, src_y = _data(7)
    est = registry.create("estimator", name)
    extra = _extra(name, src, src_y)
    with pytest.raises(InputError, match="single class"):
        est.score(features=sep, labels=np.zeros_like(y), probs=probs(sep), **extra)
    with pytest.raises(InputError, match="at least 2"):
        est.score(features=sep[:1], labels=y[:1], probs=probs(sep)[:1], **extra)
    bad = sep.copy()
    bad[0, 0] = np.nan
    if est.needs_features:
        with pytest.raises(InputError, match="NaN"):
            est.score(features=bad, labels=y, probs=probs(sep), **extra)
    if est.needs_probs:
        with pytest.raises(InputError, match="needs probs"):
            est.score(features=sep, labels=y, **extra)


def test_otce_needs_source():
    y, sep, *_ = _data(8)
    with pytest.raises(InputError, match="needs source_features"):
        registry.create("estimator", "otce").score(features=sep, labels=y)


@pytest.mark.parametrize("name", ["fda", "hscore", "hscore-shrinkage", "lfc", "logme", "sfda", "transrate", "gbc"])
def test_high_dimensional_few_samples(name):
    """d >> n works (with the PCA option where a method needs it) and never returns NaN."""
    rng = np.random.default_rng(9)
    y = np.arange(20) % 4
    f = rng.standard_normal((20, 500)) + 2 * np.eye(4)[y] @ rng.standard_normal((4, 500))
    for est in (registry.create("estimator", name), registry.create("estimator", name, pca=10)):
        try:
            value = est.score(features=f, labels=y)
        except InputError as exc:  # degenerate inputs must say so, not return NaN
            assert "not finite" in str(exc)
        else:
            assert math.isfinite(value)


def test_constant_features_never_nan():
    y = np.arange(20) % 2
    for name in ("fda", "hscore", "lfc", "logme", "sfda", "transrate"):
        try:
            value = registry.create("estimator", name).score(features=np.ones((20, 3)), labels=y)
        except InputError:
            continue
        assert math.isfinite(value)


@pytest.mark.parametrize(("shrink_w", "shrink_t"), [(1e-3, None), (0.2, 0.2), (0.5, None)])
def test_fisher_in_row_space_equals_full_dimensional_solution(shrink_w, shrink_t):
    """When d > n, FDA/SFDA solve the Fisher problem in the row space of the features; it must
    give the posteriors of the full d x d generalized eigenproblem (computed here directly)."""
    from fennec_plugins.estimators.fda import fisher_proba, scatter, shrink
    from scipy import linalg
    from scipy.special import softmax

    rng = np.random.default_rng(0)
    n, d, C = 30, 80, 4
    y = np.arange(n) % C
    f = rng.standard_normal((n, d)) + np.eye(C)[y] @ rng.standard_normal((C, d))
    means, priors, St, Sw = scatter(f, y)
    Sw_s = shrink(Sw, shrink_w)
    St_s = St if shrink_t is None else shrink(St, shrink_t)
    evals, evecs = linalg.eigh(St_s - Sw_s, Sw_s)
    W = evecs[:, np.argsort(evals)[::-1]][:, : C - 1]
    coef = means @ W @ W.T
    full = softmax(f @ coef.T - 0.5 * np.einsum("cd,cd->c", means, coef) + np.log(priors), axis=1)
    np.testing.assert_allclose(fisher_proba(f, y, shrink_w, shrink_t), full, atol=1e-10)
