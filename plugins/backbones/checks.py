"""Is a network's "pretrained" state really trained? Refuse random weights in one line.

Some packages ship weights named "pretrained" that are a fresh initialisation. Two signs
catch them, read from the state dict alone (no data, milliseconds):

- **BatchNorm running statistics at their initial values.** A freshly built BatchNorm has
  ``running_mean = 0`` and ``running_var = 1``; training on any data moves them. When more
  than half of a network's BatchNorm layers still hold exactly these values, it was not trained.
- **Weights distributed like PyTorch's default initialisation** (for networks without
  BatchNorm). ``kaiming_uniform_`` draws every weight uniformly: the excess kurtosis of a
  uniform distribution is -1.2, while trained convolution and linear weights are peaked with
  heavy tails (excess kurtosis well above 0: 0.1 to 7.5 for SqueezeNet 1.1, about 0.2 for MiniLM). When
  most large weight tensors are uniform-like (excess kurtosis below -1), it was not trained.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fennec_core.errors import InputError

#: Share of BatchNorm layers at mean 0 / var 1 above which weights are called untrained.
BN_UNTRAINED_SHARE = 0.5
#: Excess kurtosis below which a weight tensor looks uniformly drawn (uniform: -1.2).
UNIFORM_KURTOSIS = -1.0
#: Share of large weight tensors that must look uniform to call the weights untrained (a fresh
#: torchvision SqueezeNet: 25 of 26; its classifier is drawn from a normal distribution).
UNIFORM_SHARE = 0.5
#: Only tensors this large give a stable kurtosis.
MIN_TENSOR_SIZE = 1024


class UntrainedWeightsError(InputError):
    """A model's "pretrained" weights are a random initialisation: probing it would mislead."""


def _excess_kurtosis(values: np.ndarray) -> float:
    x = values.astype(np.float64).ravel()
    x = x - x.mean()
    var = float(np.mean(x**2))
    return float(np.mean(x**4) / var**2 - 3.0) if var > 0 else 0.0


def untrained_reason(state: Mapping[str, Any]) -> str | None:
    """Why ``state`` (a state dict of tensors or arrays) looks untrained, or None if it looks trained."""
    arrays = {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in state.items()}
    means = [k for k in arrays if k.endswith("running_mean")]
    if means:
        fresh = 0
        for key in means:
            var = arrays.get(key[: -len("running_mean")] + "running_var")
            if var is not None and np.all(arrays[key] == 0) and np.all(var == 1):
                fresh += 1
        if fresh / len(means) > BN_UNTRAINED_SHARE:
            return (f"BatchNorm running statistics are still at their initial values (mean 0, variance 1) in "
                    f"{fresh} of {len(means)} layers")
        return None
    weights = [a for k, a in arrays.items() if k.endswith("weight") and a.ndim >= 2 and a.size >= MIN_TENSOR_SIZE]
    if not weights:
        return None
    uniform = [k for k in (_excess_kurtosis(a) for a in weights) if k < UNIFORM_KURTOSIS]
    if len(uniform) / len(weights) > UNIFORM_SHARE:
        return (f"{len(uniform)} of {len(weights)} large weight tensors are distributed like a uniform random "
                f"initialisation (excess kurtosis {max(uniform):.2f} at most; trained weights are above 0)")
    return None


def check_trained(state: Mapping[str, Any], what: str) -> None:
    """Raise :class:`UntrainedWeightsError` (one line naming ``what``) if ``state`` looks untrained."""
    reason = untrained_reason(state)
    if reason is not None:
        raise UntrainedWeightsError(
            f"{what}: these weights are not trained: {reason}; they would give meaningless probe scores. "
            "Replace the file with the real pretrained weights (or leave this model out of --models)")
