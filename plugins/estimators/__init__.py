"""Transferability estimators from the literature, one small module each.

Every estimator is registered through ``fennec_register_estimators`` and called as
``score(*, features, labels, probs=None, **extra) -> float`` (higher transfers better);
see :mod:`fennec_plugins.estimators.base`.
"""

from __future__ import annotations

from fennec_core import hookimpl

from .fda import FDA
from .gbc import GBC
from .hscore import HScore, ShrinkageHScore
from .leep import LEEP
from .lfc import LFC
from .logme import LogME, LogMERegression
from .nce import NCE
from .nleep import NLEEP
from .otce import OTCE
from .pactran import PACTranDirichlet
from .sfda import SFDA
from .transrate import TransRate

ESTIMATORS = (FDA, LogME, LogMERegression, LEEP, NLEEP, NCE, HScore, ShrinkageHScore, PACTranDirichlet, OTCE,
              LFC, GBC, SFDA, TransRate)


@hookimpl
def fennec_register_estimators(register):
    """Register every built-in estimator under its ``name``."""
    for cls in ESTIMATORS:
        register(cls.name, cls)
