"""Assertions several test modules share: a refused command, two reports alike to the bit."""

from __future__ import annotations

import attrs
import numpy as np


def refused(res, *needles: str) -> str:
    """Exit 2, exactly one line on stderr, which says what is wrong (``needles``), no traceback."""
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert len(lines) == 1, res.stderr
    assert "error" in lines[0] and "Traceback" not in res.stderr and "internal error" not in res.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def same_report(a, b) -> None:
    """Two evaluation reports alike to the bit: every number, every prediction row."""
    assert a.to_dict() == b.to_dict()
    assert len(a.predictions) == len(b.predictions)
    for x, y in zip(a.predictions, b.predictions, strict=True):
        x, y = attrs.astuple(x), attrs.astuple(y)
        assert x[:2] == y[:2]
        np.testing.assert_array_equal(np.array(x[2:], dtype=float), np.array(y[2:], dtype=float))
