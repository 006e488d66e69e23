"""PACTran-Dirichlet: a PAC-Bayesian transferability bound on the source probabilities.

Ding et al., "PACTran: PAC-Bayesian Metrics for Estimating the Transferability of Pretrained
Models to Classification Tasks", ECCV 2022 (https://arxiv.org/abs/2203.05126), the Dirichlet
instance (as in the authors' reference code). A target label is generated through the
source classes: each target class y has a distribution over source classes
``phi_y ~ Dir(a0_y)`` with ``a0_y = alpha * n_y / n``; each sample's latent source class has
the likelihood ``s_i`` = the source softmax. Mean-field variational inference alternates

    q_i(z) ∝ s_iz exp( psi(a_{y_i z}) - psi(sum_y a_{y z}) ),   a = a0 + sum_i onehot(y_i) q_i'

for ``n_iter`` rounds; the authors' bound is
``B = -( sum_z [log C(a0_.z) - log C(a_.z)] - sum_i KL(q_i || s_i) ) / (n C)`` (lower is
better), with ``log C(a) = log Gamma(sum a) - sum log Gamma(a)``, and the score is -B, so
that higher is better (as Model Spider's baseline table uses it).

As in the authors' code (google-research/pactran_metrics, ``compute_metrics.py``,
``calculate_pac_dir``): ``alpha = 1`` by default (the value its experiments use), and ``a``
in the bound is the one from the last round, computed before that round's update of q.
Shapes: probs [n, C_src], labels [n].
"""

from __future__ import annotations

import numpy as np

from .base import Estimator, one_hot


class PACTranDirichlet(Estimator):
    """Negative PAC-Bayesian bound with Dirichlet priors (higher transfers better)."""

    name = "pactran-dirichlet"
    needs_probs = True
    needs_features = False

    def __init__(self, *, alpha: float = 1.0, n_iter: int = 10, pca=None, seed: int = 0) -> None:
        super().__init__(pca=pca, seed=seed)
        self.alpha, self.n_iter = float(alpha), int(n_iter)

    def _score(self, *, features, labels, probs, **extra):
        # imported here: registering the plugins must not import scipy
        from scipy.special import digamma, gammaln, logsumexp

        Y = one_hot(labels)  # [n, C]
        a0 = self.alpha * Y.sum(axis=0)[:, None] / labels.size + 1e-10  # [C, 1]
        log_s = np.log(probs + 1e-10)
        q, log_q = probs, log_s
        a = a0 + Y.T @ q  # [C, K]
        for _ in range(self.n_iter):
            a = a0 + Y.T @ q  # the bound below uses the last of these, as the authors' code does
            logits = log_s + Y @ digamma(a) - digamma(a.sum(axis=0))[None, :]
            log_q = logits - logsumexp(logits, axis=1, keepdims=True)
            q = np.exp(log_q)
        log_c0 = gammaln(a0.sum()) - gammaln(a0).sum()
        log_c = gammaln(a.sum(axis=0)) - gammaln(a).sum(axis=0)
        bound = np.sum(log_c0 - log_c - np.sum(q * (log_q - log_s), axis=0))
        return float(bound / Y.size)
