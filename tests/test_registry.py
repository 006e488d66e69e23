"""The plugin registry: built-ins, third parties, conflicts, broken plugins, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types

import pytest

from fennec_core import hookimpl, registry
from fennec_core.errors import RegistrationError, UnknownComponentError
from fennec_core.plugin.registry import Registry


def _plugin(name: str, kind_hook: str, comp: str, factory=dict):
    mod = types.ModuleType(name)

    def hook(register):
        register(comp, factory)

    hook.__name__ = kind_hook
    setattr(mod, kind_hook, hookimpl(hook))
    return mod


def test_builtins_listed_by_kind():
    assert "nmf" in registry.available("factorizer")
    assert "weighted" in registry.available("score_merger")
    assert registry.available("factorizer", "nm*") == ["nmf"]
    assert registry.available("factorizer", "zzz*") == []
    origins = {c.name: c.origin for c in registry.components()}
    assert origins["nmf"] == "built-in (fennec_plugins.factorizers.nmf)"


def test_unknown_name_lists_known():
    with pytest.raises(UnknownComponentError, match=r"unknown factorizer 'nope'; known: nmf, pmf"):
        registry.create("factorizer", "nope")


def test_unknown_kind_lists_kinds():
    with pytest.raises(UnknownComponentError, match="kinds are: backbone, estimator, factorizer"):
        registry.available("factorizers")


def test_bad_config_names_component():
    with pytest.raises(UnknownComponentError, match="bad config for factorizer 'nmf'"):
        registry.create("factorizer", "nmf", no_such_option=1)


def test_create_drops_none_config():
    nmf = registry.create("factorizer", "nmf", k=3, l1=None)
    assert nmf.k == 3 and nmf.l1 == 0.0


def test_duplicate_name_names_both_origins():
    reg = Registry()
    reg.register_plugin(_plugin("first_plugin", "fennec_register_factorizers", "dup"), origin="first-dist 1.0")
    with pytest.raises(RegistrationError, match=r"'dup' is registered twice: by first-dist 1.0 and by second-dist 2.0"):
        reg.register_plugin(_plugin("second_plugin", "fennec_register_factorizers", "dup"), origin="second-dist 2.0")
    with pytest.raises(RegistrationError, match="registered twice"):
        reg.create("factorizer", "dup")
    assert any("registered twice" in b.error for b in reg.broken())


def test_duplicate_of_builtin_is_refused():
    reg = Registry()
    with pytest.raises(RegistrationError, match=r"by built-in \(fennec_plugins.factorizers.nmf\) and by evil"):
        reg.register_plugin(_plugin("evil", "fennec_register_factorizers", "nmf"), origin="evil")


def test_broken_import_is_listed_and_rest_work():
    reg = Registry(builtins=("fennec_plugins.factorizers.nmf", "fennec_plugins.does_not_exist", "fennec_plugins.mergers.merges"))
    assert reg.available("factorizer") == ["nmf"]
    assert "weighted" in reg.available("score_merger")
    (bad,) = reg.broken()
    assert bad.plugin == "fennec_plugins.does_not_exist"
    assert "ModuleNotFoundError" in bad.error


def test_hook_that_raises_is_broken_and_rest_work():
    mod = types.ModuleType("raising")

    @hookimpl
    def fennec_register_factorizers(register):
        raise RuntimeError("boom")

    mod.fennec_register_factorizers = fennec_register_factorizers
    reg = Registry()
    with pytest.raises(RegistrationError, match="boom"):
        reg.register_plugin(mod, "raising")
    assert reg.available("factorizer") == ["nmf", "pmf", "spark-als"]


def test_invalid_component_name_rejected():
    reg = Registry()
    with pytest.raises(RegistrationError, match="invalid factorizer name"):
        reg.register_plugin(_plugin("badname", "fennec_register_factorizers", "Bad Name"))


def test_env_restricts_plugins(monkeypatch):
    monkeypatch.setenv("FENNEC_PLUGINS", "fennec_plugins.mergers.merges")
    reg = Registry()
    assert reg.available("factorizer") == []
    assert reg.available("score_merger") == ["learned", "rank-fusion", "weighted"]


def test_protocols_hold_for_builtins():
    from fennec_core.plugin.contracts import Factorizer, ScoreMerger

    assert isinstance(registry.create("factorizer", "nmf"), Factorizer)
    assert isinstance(registry.create("score_merger", "weighted"), ScoreMerger)


THIRD_PARTY = '''
"""A third-party Fennec plugin: a rank-1 factorizer (row means x column scales)."""
import numpy as np
from fennec_core import hookimpl
from fennec_core.records import Factors


class MeanFactorizer:
    def __init__(self, seed=0):
        self.seed = seed

    def fit(self, P, mask):
        counts = np.maximum(mask.sum(1, keepdims=True), 1)
        u = (np.where(mask, P, 0).sum(1, keepdims=True) / counts)
        return Factors(u, np.ones((P.shape[1], 1)))

    def fold_in(self, factors, observed, mask):
        return np.ones(1)


@hookimpl
def fennec_register_factorizers(register):
    register("row-mean", MeanFactorizer)
'''


@pytest.fixture
def third_party(tmp_path):
    """A plugin module plus a dist-info with an entry point in group ``fennec``."""
    (tmp_path / "fennec_rowmean.py").write_text(textwrap.dedent(THIRD_PARTY))
    dist = tmp_path / "fennec_rowmean-0.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fennec-rowmean\nVersion: 0.3\n")
    (dist / "entry_points.txt").write_text("[fennec]\nrowmean = fennec_rowmean\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return env


def _fennec(env, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fennec_core.cli", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_third_party_plugin_listed_and_usable(third_party, tmp_path, small_history_csv):
    res = _fennec(third_party, "plugins", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    facts = {c["name"]: c for c in doc["components"]["factorizer"]}
    assert facts["row-mean"]["origin"] == "fennec-rowmean 0.3 (entry point rowmean = fennec_rowmean)"
    assert facts["nmf"]["origin"] == "built-in (fennec_plugins.factorizers.nmf)"
    assert doc["broken"] == []
    res = _fennec(third_party, "fit", "--history", small_history_csv, "--out", tmp_path / "zoo",
                  "--factorizer", "row-mean")
    assert res.returncode == 0, res.stderr
    res = _fennec(third_party, "rank", "--zoo", tmp_path / "zoo", "--json", "--top", "3")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["info"]["factorizer"] == "row-mean"


def test_third_party_that_fails_to_import_is_listed_broken(third_party, tmp_path):
    (tmp_path / "fennec_rowmean.py").write_text("raise ImportError('needs libfoo: pip install foo')\n")
    res = _fennec(third_party, "plugins", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    (bad,) = doc["broken"]
    assert bad["plugin"] == "rowmean" and "pip install foo" in bad["error"]
    assert [c["name"] for c in doc["components"]["factorizer"]] == ["nmf", "pmf", "spark-als"]


def test_import_is_light():
    """`import fennec_core` loads no plugin and no heavy library."""
    code = ("import sys, fennec_core; heavy = [m for m in ('torch', 'numpy', 'zarr', 'sklearn', 'scipy', "
            "'fennec_plugins') if m in sys.modules]; print(heavy)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_plugins_says_which_components_are_usable_here_and_what_to_install(cli, monkeypatch):
    """Every proxy and graph encoder was listed as available when its package was missing."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("open_clip", "dgl") else
                        real(name, *a))
    code, out, _ = cli("plugins")
    assert code == 0
    rows = {line.split()[1]: line for line in out.splitlines()[2:] if line.strip()}
    assert "no: needs open_clip (pip install 'fennec[proxies]')" in rows["clip"]
    assert "no: needs dgl" in rows["dgl-gin"] and rows["pmf"].split()[2] == "yes"
    code, out, _ = cli("plugins", "--json")
    clip = next(c for c in json.loads(out)["components"]["task_proxy"] if c["name"] == "clip")
    assert clip["usable"] is False and clip["missing"] == ["open_clip"] and "fennec[proxies]" in clip["install"]
    pmf = next(c for c in json.loads(out)["components"]["factorizer"] if c["name"] == "pmf")
    assert pmf["usable"] is True and pmf["missing"] == [] and pmf["install"] is None
