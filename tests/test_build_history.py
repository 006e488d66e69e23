"""build-history on real images (scikit-learn's digits) with three small models, on a Dask
LocalCluster with 2 workers: complete, resumable, survives a killed worker; fit consumes it."""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

MODELS = textwrap.dedent('''
    """Three small CNNs for the build-history tests (seeded, built fresh on each worker)."""
    import os
    import time

    import torch
    from torch import nn


    def _net(width, seed, slow=False):
        torch.manual_seed(seed)
        layers = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                  nn.Linear(4 * width, 10)]
        net = nn.Sequential(*layers)
        if slow:
            forward = net.forward

            def slow_forward(x):
                time.sleep(float(os.environ.get("FENNEC_TEST_SLOW", "0")))
                return forward(x)

            net.forward = slow_forward
        return net


    def small_a():
        return _net(4, 0, slow=True)


    def small_b():
        return _net(8, 1, slow=True)


    def small_c():
        return _net(6, 2, slow=True)
''')

REFS = ["py:fennec_test_models:small_a", "py:fennec_test_models:small_b", "py:fennec_test_models:small_c"]


@pytest.fixture(scope="module")
def digit_tasks(tmp_path_factory):
    """Two tasks of real handwritten digits: 0/1/2 and 7/8/9, 15 PNGs per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("digits")
    digits = load_digits()
    for task, classes in {"low": (0, 1, 2), "high": (7, 8, 9)}.items():
        for c in classes:
            folder = root / "tasks" / task / f"digit{c}"
            folder.mkdir(parents=True)
            for k, idx in enumerate(np.flatnonzero(digits.target == c)[:15]):
                img = (digits.images[idx] * 255 / 16).astype(np.uint8)
                Image.fromarray(img, mode="L").save(folder / f"{k}.png")
        (root / "tasks" / task / "notes.txt").write_text("not a class folder")
    (root / "fennec_test_models.py").write_text(MODELS)
    return root


def _env(root, **extra):
    return dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra)


def _cli(root, *args, **env):
    return subprocess.run([sys.executable, "-m", "fennec_core.cli", *map(str, args)], env=_env(root, **env),
                          capture_output=True, text=True, timeout=600)


def _rows(path):
    with open(path, newline="") as fh:
        return [tuple(r) for r in csv.reader(fh)][1:]


@pytest.mark.slow
def test_build_resume_and_fit(digit_tasks, tmp_path):
    out = tmp_path / "H.csv"
    args = ["build-history", "--models", ",".join(REFS), "--tasks", digit_tasks / "tasks", "--estimator", "fda",
            "--out", out, "--workers", "2", "--image-size", "16", "--quiet"]
    res = _cli(digit_tasks, *args)
    assert res.returncode == 0, res.stderr
    rows = _rows(out)
    assert sorted((m, t) for m, t, _ in rows) == sorted((m, t) for m in REFS for t in ("high", "low"))
    assert all(0.0 < float(s) <= 1.0 for _, _, s in rows)

    # an interrupted run: only half the rows made it, and the last line was torn mid-write
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:4]) + lines[4][:7])
    res = _cli(digit_tasks, *args[:-1])
    assert res.returncode == 0, res.stderr
    assert "3 already in" in res.stderr and "3 computed now" in res.stderr
    again = _rows(out)
    assert len(again) == 6 and len({(m, t) for m, t, _ in again}) == 6
    assert dict(((m, t), s) for m, t, s in again) == dict(((m, t), s) for m, t, s in rows)  # deterministic

    res = _cli(digit_tasks, *args)  # nothing left to do
    assert res.returncode == 0 and len(_rows(out)) == 6

    res = _cli(digit_tasks, "fit", "--history", out, "--out", tmp_path / "zoo", "-q")
    assert res.returncode == 0, res.stderr


@pytest.mark.slow
def test_survives_a_killed_worker(digit_tasks, tmp_path, monkeypatch):
    from dask.distributed import Client, LocalCluster

    from fennec_core.history.builder import build_history

    monkeypatch.syspath_prepend(str(digit_tasks))
    monkeypatch.setenv("PYTHONPATH", str(digit_tasks) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("FENNEC_TEST_SLOW", "0.5")
    out = tmp_path / "H.csv"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        victim = sorted(client.scheduler_info()["workers"])[0]
        killed = []

        def kill_soon():
            for _ in range(200):
                time.sleep(0.05)
                if client.processing().get(victim):
                    killed.append(victim)
                    with contextlib.suppress(Exception):  # the worker dies before it can answer
                        client.run(os._exit, 1, workers=[victim])
                    return

        killer = threading.Thread(target=kill_soon)
        killer.start()
        report = build_history(REFS, digit_tasks / "tasks", out, scheduler=cluster.scheduler_address,
                               image_size=16, progress=False)
        killer.join()
    assert killed, "the test did not manage to kill a worker while it was busy"
    rows = _rows(out)
    assert report.computed == 6 and len(rows) == 6 and len({(m, t) for m, t, _ in rows}) == 6


@pytest.mark.slow
def test_bad_inputs(digit_tasks, tmp_path):
    res = _cli(digit_tasks, "build-history", "--models", "resnet50", "--tasks", digit_tasks / "tasks",
               "--out", tmp_path / "H.csv")
    assert res.returncode == 2 and "has no scheme" in res.stderr and res.stderr.count("\n") == 1
    res = _cli(digit_tasks, "build-history", "--models", REFS[0], "--tasks", tmp_path / "nope", "--out", tmp_path / "H.csv")
    assert res.returncode == 2 and "no such folder" in res.stderr
    res = _cli(digit_tasks, "build-history", "--models", REFS[0], "--tasks", digit_tasks / "tasks",
               "--estimator", "nope", "--out", tmp_path / "H.csv")
    assert res.returncode == 2 and "unknown estimator 'nope'" in res.stderr


def test_timm_source_without_timm_or_weights_is_refused():
    from fennec_core.architecture.sources import build_model, parse_model_ref
    from fennec_core.errors import FennecError

    assert str(parse_model_ref("timm:resnet50@/w.pt")) == "timm:resnet50@/w.pt"
    with pytest.raises(FennecError, match="timm"):
        build_model("timm:resnet50")


def test_py_source_with_weights(tmp_path, digit_tasks, monkeypatch):
    import torch

    from fennec_core.architecture.sources import build_model
    from fennec_core.errors import InputError

    monkeypatch.syspath_prepend(str(digit_tasks))
    net = build_model(REFS[0])
    torch.save(net.state_dict(), tmp_path / "w.pt")
    again = build_model(f"{REFS[0]}@{tmp_path / 'w.pt'}")
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True))
    torch.save(build_model(REFS[1]).state_dict(), tmp_path / "other.pt")
    with pytest.raises(InputError, match="do not match the architecture"):
        build_model(f"{REFS[0]}@{tmp_path / 'other.pt'}")


@pytest.mark.slow
def test_a_failing_pair_is_one_error_line_without_the_workers_logs(digit_tasks, tmp_path):
    """An unloadable weights file printed 20 lines of Dask "Compute Failed ... Traceback" first."""
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    res = _cli(digit_tasks, "build-history", "--models", f"{REFS[0]}@{tmp_path / 'bad.pt'}", "--tasks",
               digit_tasks / "tasks", "--estimator", "fda", "--out", tmp_path / "H.csv", "--workers", "1",
               "--image-size", "16", "--quiet")
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and "Compute Failed" not in res.stderr and "bad.pt" in res.stderr, res.stderr
    assert "cannot load" in res.stderr


def test_task_images_past_the_pixel_limit_are_refused_from_their_header(digit_tasks, monkeypatch):
    from fennec_core import images
    from fennec_core.errors import InputError
    from fennec_core.history.builder import load_images

    files = sorted(str(p) for p in (digit_tasks / "tasks" / "low" / "digit0").glob("*.png"))[:2]
    assert load_images(files, 16).shape == (2, 3, 16, 16)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 63)  # the digits are 8x8 = 64 pixels
    with pytest.raises(InputError, match="8x8 pixels, more than the 6.3e-05-megapixel limit"):
        load_images(files, 16)
