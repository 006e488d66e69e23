"""Evaluation protocols as objects: specs parsed once, records instead of tuples, a plugin kind
a third party can add (from an outside package, through the entry point, run by the CLI)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap

import pytest
from checks import refused

from fennec_core import Fennec
from fennec_core.errors import InputError
from fennec_core.evaluation import LooWarm, Prediction, evaluate, protocol_from_spec
from fennec_core.plugin.contracts import EvaluationProtocol
from fennec_core.plugin.registry import Registry

FAST = {"factorizer_config": {"k": 2, "max_iter": 20}}

#: An outside package: leave one task out on N seeded targets only (a quick look at a large table).
SAMPLED = '''
import numpy as np

from fennec_core import hookimpl
from fennec_core.evaluation import Loo
from fennec_core.evaluation.protocol_base import whole_arg


class LooSample(Loo):
    """Leave one task out on N targets drawn with the engine's seed."""

    usage = "loo-sample:N"

    def __init__(self, args=None):
        self.n = whole_arg(args, self.usage, "targets")

    @property
    def name(self):
        return f"loo-sample:{self.n}"

    def folds(self, history, tasks):
        every = super().folds(history, tasks)
        keep = np.random.default_rng(0).permutation(len(every))[: self.n]
        return [every[i] for i in sorted(keep)]


@hookimpl
def fennec_register_protocols(register):
    register("loo-sample", LooSample)
'''


@pytest.fixture
def outside_package(tmp_path):
    """The protocol above as an installed distribution: a module plus a dist-info whose entry
    point (group ``fennec``) names it."""
    (tmp_path / "fennec_loosample.py").write_text(textwrap.dedent(SAMPLED))
    dist = tmp_path / "fennec_loosample-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fennec-loosample\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[fennec]\nloosample = fennec_loosample\n")
    return dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _fennec(env, *args):
    return subprocess.run([sys.executable, "-m", "fennec_core.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_third_party_protocol_runs_through_fennec_evaluate(outside_package, small_history_csv, tmp_path):
    preds = tmp_path / "p.csv"
    res = _fennec(outside_package, "evaluate", "--history", small_history_csv, "--protocol", "loo-sample:2",
                  "--config", "factorizer.k=2", "--predictions", preds, "--json", "-q")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["protocol"] == "loo-sample:2" and len(doc["per_task"]) == 2
    assert set(doc["mean"]["baselines"]) >= {"static", "static-zscore-clip"}  # the baseline suite beside it, as for loo
    with open(preds, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["task"] for r in rows} == set(doc["per_task"]) and "repeat" not in rows[0]
    listed = _fennec(outside_package, "evaluate", "--protocol", "list")
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith("loo-sample:N"))
    assert "fennec-loosample 0.1" in line and "Leave one task out on N targets" in line
    bad = _fennec(outside_package, "evaluate", "--history", small_history_csv, "--protocol", "loo-sample:x")
    refused(bad, "protocol 'loo-sample:x': expected loo-sample:N with N >= 1 targets, e.g. loo-sample:3")


def test_the_engines_registry_resolves_the_spec(small_history):
    """An isolated registry with only its own protocol: ``loo`` is unknown there, its own runs."""
    import types

    module = types.ModuleType("only_sampled")
    exec(compile(textwrap.dedent(SAMPLED), "only_sampled", "exec"), module.__dict__)
    reg = Registry(builtins=("fennec_plugins.factorizers.pmf", "fennec_plugins.mergers.merges"), entry_points=False)
    reg.register_plugin(module, "only_sampled")
    engine = Fennec(device="cpu", registry=reg, **FAST)
    report = evaluate(engine, small_history, protocol="loo-sample:3")
    assert report.protocol == "loo-sample:3" and len(report.tasks) == 3
    with pytest.raises(InputError, match="unknown protocol 'loo'; available: loo-sample:N"):
        evaluate(engine, small_history, protocol="loo")


def test_specs_parse_once_into_objects():
    warm = protocol_from_spec("loo-warm:3")
    assert isinstance(warm, LooWarm) and isinstance(warm, EvaluationProtocol)
    assert (warm.name, warm.n_known) == ("loo-warm:3", 3)
    assert protocol_from_spec(warm) is warm  # an object passes through
    assert protocol_from_spec("search:4").k == 4 and protocol_from_spec("loo-model").name == "loo-model"
    with pytest.raises(InputError, match="protocol 'loo-model' takes no argument"):
        protocol_from_spec("loo-model:2")
    with pytest.raises(InputError, match="expected search:K with K >= 1 picks"):
        protocol_from_spec("search:-1")


def test_predictions_are_records_and_repeat_only_where_draws_repeat(small_history, tmp_path):
    engine = Fennec(device="cpu", **FAST)
    cold = evaluate(engine, small_history, protocol="loo")
    warm = evaluate(engine, small_history, protocol=LooWarm("1"), repeats=2)
    assert all(isinstance(p, Prediction) and p.repeat is None for p in cold.predictions)
    assert {p.repeat for p in warm.predictions} == {0, 1}
    for report, has_repeat in ((cold, False), (warm, True)):
        path = tmp_path / f"{report.protocol}.csv"
        report.write_predictions(path)
        header = path.read_text().splitlines()[0].split(",")
        assert header[:8] == ["model", "task", "predicted", "truth", "low", "high", "score", "static"]
        assert ("repeat" in header) is has_repeat


def test_an_option_a_protocol_does_not_take_is_refused_before_any_fold(cli, small_history_csv):
    code, _, err = cli("evaluate", "--history", small_history_csv, "--protocol", "search:2", "--repeats", "3")
    assert code == 2 and "--repeats goes with --protocol loo or loo-model or loo-warm:K (got --protocol search:2)" in err
    code, _, err = cli("evaluate", "--history", small_history_csv, "--protocol", "search:2", "--baseline", "card")
    assert code == 2 and "--baseline goes with --protocol" in err
    code, out, _ = cli("evaluate", "--protocol", "list")
    assert code == 0 and [x.split()[0] for x in out.splitlines()] == ["loo", "loo-model", "loo-probe:EST[:N]",
                                                                      "loo-warm:K", "search:K"]


def test_fitting_loads_no_evaluation_code(small_history_csv):
    """The registry registers the built-in protocols at every plugin load; their work is imported
    only when one runs, so a fit loads none of it (nor the metrics' scipy)."""
    code = ("import sys\nfrom fennec_core import Fennec\n"
            f"Fennec(device='cpu', factorizer_config={{'k': 2}}).fit({str(small_history_csv)!r})\n"
            "print(sorted(m for m in sys.modules if m.startswith('fennec_core.evaluation.') or m == 'scipy'))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "['fennec_core.evaluation.builtin', 'fennec_core.evaluation.protocol_base']"


def test_no_protocol_registered_says_where_they_come_from(small_history):
    engine = Fennec(device="cpu", registry=Registry(
        builtins=("fennec_plugins.factorizers.pmf", "fennec_plugins.mergers.merges"), entry_points=False))
    with pytest.raises(InputError, match="no protocol is registered; the built-in ones come from the plugin "
                                         "fennec_core.evaluation.builtin"):
        evaluate(engine, small_history, protocol="loo")
