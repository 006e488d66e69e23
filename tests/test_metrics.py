"""Metrics follow the field's conventions (scipy weightedtau with rank=None, Pearson x 100)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import weightedtau

from fennec_core import metrics


def test_perfect_and_reversed():
    t = np.array([0.9, 0.8, 0.7, 0.6])
    assert metrics.weighted_tau(t, t) == pytest.approx(1.0)
    assert metrics.weighted_tau(t, -t) == pytest.approx(-1.0)
    assert metrics.pearson(t, 2 * t + 1) == pytest.approx(100.0)
    assert metrics.rel_at_1(t, t) == 1.0
    assert metrics.regret_at_k(t, -t, 3) == pytest.approx((0.9 - 0.8) / 0.3)
    assert metrics.regret_at_k(t, t, 1) == 0.0


def test_weighted_tau_is_scipys_convention():
    rng = np.random.default_rng(0)
    t, s = rng.random(30), rng.random(30)
    assert metrics.weighted_tau(t, s) == pytest.approx(weightedtau(t, s, rank=None)[0])
    # weights follow the true order, so the metric is not symmetric in its arguments
    assert metrics.weighted_tau(t, s) != pytest.approx(metrics.weighted_tau(s, t))


def test_rel_at_1_negated_errors():
    t = np.array([-0.03, -0.05, -0.04])
    assert metrics.rel_at_1(t, np.array([0, 1, 0])) == 0.0  # the worst model picked
    assert metrics.rel_at_1(t, np.array([1, 0, 0])) == 1.0


def test_nan_handling():
    t = np.array([1.0, np.nan, 0.5, 0.2])
    s = np.array([0.9, 0.1, np.nan, 0.1])
    assert metrics.weighted_tau(t, s) == pytest.approx(1.0)
    assert math.isnan(metrics.pearson(np.ones(3), np.arange(3)))
