"""Golden outputs of the public behaviour, computed by the current code and kept as data.

``python tests/golden.py --write`` regenerates ``tests/data/golden/*.json`` (only when a change
of behaviour is intended and explained in the commit); ``tests/test_golden.py`` recomputes every
case and compares with the stored data to 1e-9.

Cases: rankings of the bundled zoo (cold, a zoo task, known scores, a description, a model added
from its architecture) and ``evaluate`` reports on the three shared tables (``loo`` and
``loo-warm:2``), with every hidden cell's prediction.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
GOLDEN = HERE / "data" / "golden"
KNOWN = {"resnet50": 0.91, "alexnet": 0.62, "mobilenet_w1": 0.85}


# -- the only part that follows API changes: how each case is asked for --------------------


def _describe(zoo: Any, card: Any, text: str) -> Any:
    return zoo.rank(card, description=text)


def _add_architectures(zoo: Any, refs: list[str]) -> None:
    zoo.add_architectures(refs, cache=False)


def _evaluate(history: Any, protocol: str) -> Any:
    from fennec_core import Fennec
    from fennec_core.evaluation import evaluate

    return evaluate(Fennec(device="cpu"), history, protocol=protocol, repeats=2)


def _convert(path: Path, **kwargs: Any) -> Any:
    from fennec_core.io.tables import convert_table

    return convert_table(path, **kwargs)


# -- cases ------------------------------------------------------------------------------------


def _ranking(r: Any) -> dict[str, Any]:
    out = {"model_ids": list(r.model_ids), "scores": [float(x) for x in r.scores],
           "cold": bool(r.cold)}
    for name in ("transfer", "meta", "predicted", "low", "high"):
        if name in r.parts:
            out[name] = [float(x) for x in r.parts[name]]
    return out


def bundled_cases(*, with_extras: bool) -> dict[str, Any]:
    """Rankings of the bundled zoo; ``with_extras`` adds the text-proxy and add-model cases."""
    from fennec_core import Fennec, TaskCard
    from fennec_core.io.bundled import bundled_zoo_path

    zoo = Fennec.load(bundled_zoo_path(), device="cpu")
    cases = {
        "cold": _ranking(zoo.rank()),
        "cold_classes": _ranking(zoo.rank(TaskCard("new", num_classes=37))),
        "zoo_task": _ranking(zoo.rank("yoga")),
        "known": _ranking(zoo.rank(TaskCard("new", num_classes=10), known=KNOWN)),
        "known_explore": _ranking(zoo.rank(TaskCard("new", num_classes=10), known=KNOWN, explore=True)),
    }
    if with_extras:
        cases["describe"] = _ranking(_describe(zoo, TaskCard("new"), "photos of people holding yoga poses"))
        tmp = Path(tempfile.mkdtemp())
        try:
            copy = tmp / "zoo.zarr"
            shutil.copytree(bundled_zoo_path(), copy)
            added = Fennec.load(copy, device="cpu")
            _add_architectures(added, ["pytorchcv:resnet18"])
            cases["add_model"] = _ranking(added.rank(TaskCard("new", num_classes=10)))
        finally:
            shutil.rmtree(tmp)
    return cases


def _table(name: str) -> Any:
    files = {
        "fennec105": ("fennec_105x7_oracle.csv", {"model": ["Architecture"], "task": "Target Dataset",
                                                  "score": "Oracle"}),
        "parc": ("parc_controlled_oracle.csv", {"model": ["Architecture", "Source Dataset"],
                                                "task": "Target Dataset", "score": "Oracle"}),
        "modelspider": ("modelspider_single_source_finetune.csv", {"wide": True}),
    }
    path, kwargs = files[name]
    return _convert(HERE / "data" / path, **kwargs)


def evaluation_cases() -> dict[str, Any]:
    """``loo`` and ``loo-warm:2`` (2 repeats) reports on the three shared tables."""
    out = {}
    for name in ("fennec105", "parc", "modelspider"):
        history = _table(name)
        for protocol in ("loo", "loo-warm:2"):
            report = _evaluate(history, protocol)
            out[f"{name}/{protocol}"] = {
                "per_task": {t.task: {"method": t.method, "static": t.static} for t in report.tasks},
                # the files predate the Prediction record: a protocol that does not repeat wrote draw 0
                "predictions": [[p.model, p.task, p.score, p.truth, p.static, p.repeat or 0]
                                for p in report.predictions],
            }
    return out


def compute(*, with_extras: bool = True) -> dict[str, dict[str, Any]]:
    """Every golden case, by file name."""
    return {"bundled": bundled_cases(with_extras=with_extras), "evaluation": evaluation_cases()}


def assert_close(expected: Any, actual: Any, path: str = "", tol: float = 1e-9) -> None:
    """Recursive equality: ids and flags exactly, floats to ``tol`` (NaN equals NaN)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(expected) == set(actual), \
            f"{path}: keys differ: {sorted(set(expected) ^ set(actual))}"
        for k in expected:
            assert_close(expected[k], actual[k], f"{path}/{k}", tol)
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{path}: lengths differ"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_close(e, a, f"{path}[{i}]", tol)
    elif isinstance(expected, float) and not isinstance(expected, bool):
        if np.isnan(expected):
            assert actual is not None and np.isnan(actual), f"{path}: expected NaN, got {actual}"
        else:
            assert abs(expected - actual) <= tol * max(1.0, abs(expected)), f"{path}: {expected!r} != {actual!r}"
    else:
        assert expected == actual, f"{path}: {expected!r} != {actual!r}"


def _json_safe(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and np.isnan(x):
        return "NaN"
    return x


def _from_json(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _from_json(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_from_json(v) for v in x]
    return float("nan") if x == "NaN" else x


def load(name: str) -> dict[str, Any]:
    """A stored golden file."""
    return _from_json(json.loads((GOLDEN / f"{name}.json").read_text()))


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit("usage: python tests/golden.py --write   (regenerates tests/data/golden/*.json)")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for name, doc in compute().items():
        (GOLDEN / f"{name}.json").write_text(json.dumps(_json_safe(doc), indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN / name}.json")
