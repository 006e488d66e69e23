"""LogME: the log maximum evidence of a Bayesian linear model on the features.

You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
ICML 2021 (https://arxiv.org/abs/2102.11005); fixed-point updates from You et al.,
"Ranking and Tuning Pre-trained Models", JMLR 2022. For each target column y (one-hot class
indicator, or a regression target), with prior w ~ N(0, 1/alpha I) and noise 1/beta:

    L(alpha, beta) = n/2 log beta + d/2 log alpha - n/2 log 2 pi - beta/2 ||F m - y||^2
                     - alpha/2 ||m||^2 - 1/2 log |alpha I + beta F'F|

maximised by the fixed point gamma = sum s_i/(s_i + alpha/beta), alpha = gamma/||m||^2,
beta = (n - gamma)/||F m - y||^2 on the SVD F = U S V' (s = S^2). LogME = mean over
columns of L/n. Shapes: features [n, d]; classes [n] or regression targets [n] / [n, t].
"""

from __future__ import annotations

import numpy as np

from .base import Estimator, one_hot


def _spectrum(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u [n, r], sigma [r]): left singular vectors and squared singular values of f,
    from the smaller Gram matrix (r = rank)."""
    n, d = f.shape
    if n <= d:
        sigma, u = np.linalg.eigh(f @ f.T)
    else:
        sigma, v = np.linalg.eigh(f.T @ f)
        keep = sigma > sigma.max() * 1e-12
        u = (f @ v[:, keep]) / np.sqrt(sigma[keep])
        return u, sigma[keep]
    keep = sigma > sigma.max() * 1e-12
    return u[:, keep], sigma[keep]


def log_evidence(f: np.ndarray, targets: np.ndarray, max_iter: int = 100, tol: float = 1e-3) -> np.ndarray:
    """Per-column maximum log evidence / n for targets [n, t] (all columns iterated together)."""
    n, d = f.shape
    u, sigma = _spectrum(f)
    x2 = (u.T @ targets) ** 2  # [r, t]
    res_x2 = (targets**2).sum(axis=0) - x2.sum(axis=0)  # energy outside the span of the features
    s = sigma[:, None]
    alpha = np.ones(targets.shape[1])
    beta = np.ones(targets.shape[1])
    active = np.ones(targets.shape[1], dtype=bool)
    for _ in range(max_iter):
        t = alpha / beta
        gamma = (s / (s + t)).sum(axis=0)
        m2 = (s * x2 / (t + s) ** 2).sum(axis=0)
        res2 = (x2 / (1 + s / t) ** 2).sum(axis=0) + res_x2
        new_alpha = gamma / (m2 + 1e-10)
        new_beta = (n - gamma) / (res2 + 1e-10)
        alpha = np.where(active, new_alpha, alpha)
        beta = np.where(active, new_beta, beta)
        active &= np.abs(alpha / beta - t) / t >= tol
        if not active.any():
            break
    t = alpha / beta
    m2 = (s * x2 / (t + s) ** 2).sum(axis=0)
    res2 = (x2 / (1 + s / t) ** 2).sum(axis=0) + res_x2
    logdet = np.log(alpha + beta * s).sum(axis=0) + (d - sigma.size) * np.log(alpha)
    evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * logdet - beta / 2 * res2
                - alpha / 2 * m2 - n / 2 * np.log(2 * np.pi))
    return evidence / n


class LogME(Estimator):
    """Mean log maximum evidence per class (classification)."""

    name = "logme"

    def _score(self, *, features, labels, probs, **extra):
        return float(log_evidence(features, one_hot(labels)).mean())


class LogMERegression(LogME):
    """LogME for regression targets [n] or [n, t] (mean over target columns)."""

    name = "logme-regression"
    regression = True

    def _score(self, *, features, labels, probs, **extra):
        y = labels.reshape(labels.shape[0], -1)
        return float(log_evidence(features, y).mean())
