"""What a new user met (issue 13): a zoo task ranked cold, refits for unchanged cells, a wrong k
printed, a text proxy on images, a missing Pillow. CLI cases through the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from fennec_core import Fennec
from fennec_core.io.tables import write_history


def _run(*args):
    return subprocess.run([sys.executable, "-m", "fennec_core.cli", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)


def test_a_task_of_the_zoo_uses_its_fitted_vector_and_shows_its_results():
    from fennec_core.io.bundled import bundled_zoo_path

    zoo = Fennec.load(bundled_zoo_path(), device="cpu")
    r = zoo.rank("yoga")
    assert not r.cold and r.info["task_vector_source"] == "zoo task"
    col, mask = zoo.zoo_.history.column("yoga")
    pos = {m: i for i, m in enumerate(zoo.zoo_.model_ids)}
    np.testing.assert_array_equal(r.parts["observed"], [col[pos[m]] for m in r.model_ids])
    j = zoo.zoo_.history.task_index("yoga")
    np.testing.assert_allclose(r.parts["transfer"], (zoo.zoo_.factors.U @ zoo.zoo_.factors.V[j])[
        [pos[m] for m in r.model_ids]])
    res = _run("rank", "--task", "yoga", "--top", "3")
    assert res.returncode == 0 and "nothing known" not in res.stderr and "observed" in res.stdout


def test_reapplying_an_identical_update_is_no_change(small_history):
    eng = Fennec(device="cpu").fit(small_history)
    report = eng.update(small_history)
    assert report["refit"] is False and report["new_tasks"] == [] and report["new_models"] == []


@pytest.mark.slow
def test_fit_prints_the_k_it_used(tmp_path, small_history):
    write_history(small_history, tmp_path / "h.csv")
    res = _run("fit", "--history", tmp_path / "h.csv", "--config", "factorizer.k=3", "--out", tmp_path / "zoo")
    assert res.returncode == 0 and "(pmf, k=3)" in res.stderr, res.stderr


def test_a_text_proxy_on_task_images_is_one_line(tmp_path, small_history):
    write_history(small_history, tmp_path / "h.csv")
    (tmp_path / "imgs" / "t0").mkdir(parents=True)
    res = _run("fit", "--history", tmp_path / "h.csv", "--task-images", tmp_path / "imgs", "--proxy", "text",
               "--out", tmp_path / "zoo")
    assert res.returncode == 2 and "embeds text, not images" in res.stderr and res.stderr.count("\n") == 1


def test_images_without_pillow_name_the_extra(monkeypatch, tmp_path):
    from fennec_core.errors import MissingDependencyError
    from fennec_core.task.inputs import load_task_images

    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    with pytest.raises(MissingDependencyError, match=r"fennec\[proxies\]"):
        load_task_images(tmp_path, n=2)


def test_pretrained_weights_are_never_downloaded_unless_asked(tmp_path, monkeypatch):
    """pytorchcv would fetch resnet10's weights from GitHub: without allow_download that is one
    FennecError naming --allow-download, and no download is attempted."""
    pytest.importorskip("pytorchcv")
    from fennec_core.architecture.sources import build_model
    from fennec_core.errors import FennecError

    monkeypatch.setenv("HOME", str(tmp_path))  # pytorchcv's cache (~/.torch/models) is empty here
    calls = []
    import pytorchcv.models.common.model_store as store

    monkeypatch.setattr(store, "_download", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(OSError("net")))
    with pytest.raises(FennecError, match="--allow-download"):
        build_model("pytorchcv:resnet10")
    assert calls == []  # refused before pytorchcv's own downloader ran
    with pytest.raises(FennecError, match="could not build it"):
        build_model("pytorchcv:resnet10", allow_download=True)  # asked: the downloader runs (and fails here)
    assert len(calls) == 1


def test_demo_help_lists_the_bundled_tasks_and_every_option_has_help():
    from fennec_core.cli.parser import build_parser
    from fennec_core.io.bundled import bundled_zoo_path

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    demo_task = next(a for a in sub["demo"]._actions if a.dest == "task")
    tasks = Fennec.load(bundled_zoo_path()).zoo_.task_ids
    assert all(t in demo_task.help for t in tasks)
    missing = [f"{name} {a.option_strings or a.dest}" for name, p in sub.items() for a in p._actions
               if a.help is None and a.dest != "help"]
    assert missing == []
