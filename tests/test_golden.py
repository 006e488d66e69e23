"""Behaviour is unchanged: every golden case (tests/golden.py) equals its stored data to 1e-9.

A change of behaviour that is intended regenerates the data (``python tests/golden.py --write``)
in the commit that causes it, with the reason in its message.
"""

from __future__ import annotations

import golden
import pytest


def test_bundled_rankings_equal_golden():
    pytest.importorskip("sentence_transformers", reason="the describe case needs the proxies extra")
    pytest.importorskip("pytorchcv", reason="the add-model case needs the archi extra")
    golden.assert_close(golden.load("bundled"), golden.bundled_cases(with_extras=True), "bundled")


@pytest.mark.slow
def test_evaluation_reports_equal_golden():
    golden.assert_close(golden.load("evaluation"), golden.evaluation_cases(), "evaluation")
