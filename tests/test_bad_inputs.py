"""Bad input is refused with one clear line and exit code 2 (CLI) or one FennecError naming the
argument (Python API): never an internal error, a traceback, or a silent success (issue 12)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from checks import refused as _refused

from fennec_core import Fennec, ModelCard, TaskCard
from fennec_core.errors import FennecError, InputError
from fennec_core.records import History

# -- helpers ---------------------------------------------------------------------------------


def _fennec(*args, env=None, cwd=None):
    """The real entry point, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "fennec_core.cli", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _history(m=6, n=4, seed=0):
    rng = np.random.default_rng(seed)
    scores = 0.5 + 0.3 * rng.random((m, n))
    return History([f"m{i}" for i in range(m)], [f"t{j}" for j in range(n)], scores, np.ones((m, n), bool))


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG declaring ``width`` x ``height`` pixels in a few dozen bytes (a decompression bomb's
    header: nothing is decoded to read its size)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))


def _save_png(path: Path, seed: int, size: int = 8) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3)).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 6 x 4 history CSV, a zoo fitted on it, and a regular file to put paths under."""
    from fennec_core.io.tables import write_history

    root = tmp_path_factory.mktemp("bad_inputs")
    write_history(_history(), root / "h.csv")
    Fennec(device="cpu").fit(root / "h.csv").save(root / "zoo")
    _write(root / "somefile.txt", "not a folder\n")
    return root


PLUGINS = '''
"""Misbehaving and tiny plugins for the bad-input tests."""
import numpy as np
from fennec_core import hookimpl
from fennec_core.task.inputs import load_task_images


class BoomFactorizer:
    def __init__(self, seed=0):
        self.seed = seed

    def fit(self, P, mask):
        raise RuntimeError("the solver diverged\\nat step 3")

    def fold_in(self, factors, observed, mask):
        return np.ones(1)


class MeanColour:
    """A task proxy: each image's mean colour."""

    def __init__(self, images_per_task=100, device="auto", progress=False):
        self.n = images_per_task

    def embed(self, inputs):
        task = load_task_images(inputs, n=self.n)
        return np.array([np.asarray(im, dtype=float).mean(axis=(0, 1)) for im in task.images])


@hookimpl
def fennec_register_factorizers(register):
    register("boom", BoomFactorizer)


@hookimpl
def fennec_register_task_proxies(register):
    register("mean-colour", MeanColour)
'''


def _plugin_env(root: Path, module: str, source: str, ep_name: str) -> dict[str, str]:
    """An environment where ``module`` (with ``source``) is a third-party plugin (entry point)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    dist = root / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[fennec]\n{ep_name} = {module}\n")
    return dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                HF_HUB_OFFLINE="1")


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    return _plugin_env(tmp_path_factory.mktemp("plugins"), "fennec_testplugins", PLUGINS, "testplugins")


# -- 7: internal errors that are the user's input --------------------------------------------


@pytest.mark.parametrize("history", ["/proc/self/mem", "folder"])
def test_unreadable_history_is_one_line(files, history):
    if history == "/proc/self/mem" and not Path(history).exists():
        pytest.skip("no /proc here")
    path = files if history == "folder" else history
    _refused(_fennec("fit", "--history", path, "--out", files / "never"), str(path))
    assert not (files / "never").exists()


@pytest.mark.parametrize("out", ["under-a-file", "/proc/fennec-zoo"])
def test_fit_out_that_cannot_be_written_fails_before_fitting(files, out):
    if out.startswith("/proc") and not Path("/proc/self").exists():
        pytest.skip("no /proc here")
    target = files / "somefile.txt" / "zoo" if out == "under-a-file" else out
    _refused(_fennec("fit", "--history", files / "h.csv", "--out", target), "--out", str(target))


@pytest.mark.parametrize("scores", ["1e308,-1e308", "nan,0.5", "inf,0.5"])
def test_extreme_or_missing_known_scores_are_refused(files, scores, tmp_path):
    a, b = scores.split(",")
    known = _write(tmp_path / "known.csv", f"model,score\nm0,{a}\nm1,{b}\n")
    _refused(_fennec("rank", "--zoo", files / "zoo", "--known", known), "score")


def test_extreme_known_scores_in_the_api():
    engine = Fennec(device="cpu").fit(_history())
    for known in ({"m0": 1e308, "m1": -1e308}, {"m0": float("nan")}, {"m0": float("inf")}, {"m0": "0.5"}):
        with pytest.raises(InputError, match=r"known\['m0'\]"):
            engine.rank(known=known)
    # large but representable scores are folded in (in inferred units) and ranked
    ranking = engine.rank(known={"m0": 1e150, "m1": -1e150})
    assert np.all(np.isfinite(ranking.scores))


@pytest.mark.parametrize("device", ["tpu:7", "tpu", "cuda:x", "gpu"])
def test_unknown_device_is_refused(files, device):
    _refused(_fennec("rank", "--zoo", files / "zoo", "--device", device), repr(device), "cuda:N")


@pytest.mark.parametrize("config, needle", [
    ("factorizer.k=abc", "k must be a whole number"),
    ("score_merger.w=abc", "w must lie in [0, 1] (a number)"),
    ("score_merger.nope=1", "bad config for score_merger 'weighted'"),
    ("seed=abc", "seed must be a whole number"),
    ("factorizer.k=100000", "use k <= 4"),
    ("use_meta=maybe", "use_meta must be true or false"),
    ("factorizer.max_iter=-5", "max_iter must be a whole number >= 1"),
    ("warm_strength=nan", "warm_strength"),
])
def test_bad_config_values_are_refused(files, config, needle):
    _refused(_fennec("fit", "--history", files / "h.csv", "--out", files / "never", "--config", config), needle)
    assert not (files / "never").exists()


def test_a_plugin_factorizer_that_raises_is_named(files, plugin_env):
    res = _fennec("fit", "--history", files / "h.csv", "--out", files / "never", "--factorizer", "boom",
                  env=plugin_env)
    _refused(res, "factorizer 'boom'", "fennec-testplugins 1.0", "fit", "RuntimeError", "the solver diverged at step 3")


def test_evaluate_repeats_zero_is_refused(files):
    _refused(_fennec("evaluate", "--history", files / "h.csv", "--protocol", "loo-warm:1", "--repeats", "0"),
             "--repeats")
    from fennec_core.evaluation import evaluate

    with pytest.raises(InputError, match="repeats must be a whole number >= 1"):
        evaluate(Fennec(device="cpu"), _history(), protocol="loo-warm:1", repeats=0)


def test_evaluate_predictions_into_a_folder_fails_before_evaluating(files, tmp_path):
    res = _fennec("evaluate", "--history", files / "h.csv", "--predictions", tmp_path)
    _refused(res, "--predictions", "is a folder")
    res = _fennec("evaluate", "--history", files / "h.csv", "--predictions", files / "somefile.txt" / "p.csv")
    _refused(res, "--predictions", "is a file, not a folder")


def test_convert_short_row_and_out_folder(tmp_path):
    short = _write(tmp_path / "short.csv", "a,b,c\nx,y\n")
    _refused(_fennec("convert", short, "--out", tmp_path / "o.csv", "--model", "a", "--task", "b", "--score", "c"),
             "line 2 has 2 fields, header has 3")
    good = _write(tmp_path / "wide.csv", "model,t1,t2\nm1,0.5,0.6\n")
    _refused(_fennec("convert", good, "--out", tmp_path, "--wide"), "--out", "is a folder")
    assert _fennec("convert", good, "--out", tmp_path / "o.csv", "--wide").returncode == 0


def test_closed_stdout_exits_quietly(files):
    """`fennec rank | head -1`: the reader goes away; no traceback, exit 141 (SIGPIPE's)."""
    proc = subprocess.Popen([sys.executable, "-m", "fennec_core.cli", "rank", "--zoo", str(files / "zoo"), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # no reader at all, before anything is written: every write fails
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=300) == 141, err
    assert "Traceback" not in err and "error" not in err


def test_broken_pipe_in_process(monkeypatch, capsys):
    from fennec_core.cli import main, plugins_command

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(plugins_command, "cmd_plugins", broken)
    assert main(["plugins"]) == 141
    assert capsys.readouterr().err == ""


# -- 8: nonsense that used to be accepted ----------------------------------------------------


def test_history_whose_scores_overflow_is_refused(tmp_path):
    rows = "".join(f"m{i},t{j},{'1e308' if (i + j) % 2 else '-1e308'}\n" for i in range(6) for j in range(4))
    big = _write(tmp_path / "big.csv", "model,task,score\n" + rows)
    _refused(_fennec("fit", "--history", big, "--out", tmp_path / "zoo"), "'m0'", "'t0'", "1e+150")
    assert not (tmp_path / "zoo").exists()
    with pytest.raises(InputError, match="must lie within"):
        History(["a", "b"], ["t"], [[1e200], [0.5]], [[True], [True]])


@pytest.mark.parametrize("args", [["--top", "0"], ["--top", "-1"], ["--top", "-100"], ["--top", "2.5"],
                                  ["--num-classes", "0"], ["--train-size", "-3"]])
def test_rank_counts_must_be_positive(files, args):
    _refused(_fennec("rank", "--zoo", files / "zoo", *args), args[0])


@pytest.mark.parametrize("value", ["-1", "nan", "abc"])
def test_update_refit_threshold_must_be_a_number(files, tmp_path, value):
    new = _write(tmp_path / "new.csv", "model,task,score\nm0,tnew,0.6\nm1,tnew,0.7\n")
    _refused(_fennec("update", "--zoo", files / "zoo", "--history", new, "--refit-threshold", value),
             "--refit-threshold")


def test_update_refit_threshold_in_the_api():
    engine = Fennec(device="cpu").fit(_history())
    new = History(["m0", "m1"], ["tnew"], [[0.6], [0.7]], [[True], [True]])
    for value in (-1, float("nan"), "2"):
        with pytest.raises(InputError, match="refit_threshold"):
            engine.update(new, refit_threshold=value)


def test_loo_warm_with_more_known_cells_than_models_is_refused(files):
    _refused(_fennec("evaluate", "--history", files / "h.csv", "--protocol", "loo-warm:1000"),
             "loo-warm:1000", "use K <= 4")


QUITTER = '''
"""A plugin that ends the program when imported."""
import sys

sys.exit(0)
'''


@pytest.mark.slow
def test_a_plugin_calling_sys_exit_is_listed_broken(tmp_path, files):
    env = _plugin_env(tmp_path / "quit", "fennec_quitter", QUITTER, "quitter")
    res = _fennec("plugins", "--json", env=env)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    (bad,) = doc["broken"]
    assert bad["plugin"] == "quitter" and "sys.exit(0)" in bad["error"]
    assert "pmf" in [c["name"] for c in doc["components"]["factorizer"]]
    res = _fennec("fit", "--history", files / "h.csv", "--out", tmp_path / "zoo", "-q", env=env)
    assert res.returncode == 0, res.stderr
    assert Fennec.load(tmp_path / "zoo").rank(top=2).model_ids


@pytest.mark.slow
def test_global_flags_work_before_the_subcommand(files, tmp_path):
    res = _fennec("-q", "fit", "--history", files / "h.csv", "--out", tmp_path / "zoo")
    assert res.returncode == 0 and res.stderr == "", res.stderr
    res = _fennec("fit", "--history", files / "h.csv", "--out", tmp_path / "zoo2")
    assert res.returncode == 0 and "fitted 6 models" in res.stderr  # not quiet without -q
    res = _fennec("--debug", "rank", "--zoo", tmp_path / "missing")
    assert "Traceback" in res.stderr and "StoreError" in res.stderr
    res = _fennec("rank", "--zoo", tmp_path / "missing", "--debug")
    assert "Traceback" in res.stderr


# -- 9 and 11: images: one-line warnings, the size limit --------------------------------------


@pytest.fixture(scope="module")
def image_zoo(files, plugin_env, tmp_path_factory):
    """A zoo whose tasks were embedded by the tiny mean-colour proxy plugin."""
    root = tmp_path_factory.mktemp("image_zoo")
    for j in range(4):
        for i in range(3):
            _save_png(root / "tasks" / f"t{j}" / f"{i}.png", 10 * j + i)
    res = _fennec("fit", "--history", files / "h.csv", "--task-images", root / "tasks", "--proxy", "mean-colour",
                  "--out", root / "zoo", "-q", env=plugin_env)
    assert res.returncode == 0, res.stderr
    return root


def test_skipped_images_warn_in_one_line(image_zoo, plugin_env, tmp_path):
    for i in range(3):
        _save_png(tmp_path / "new" / f"{i}.png", 100 + i)
    (tmp_path / "new" / "broken.png").write_bytes(b"not a png")
    res = _fennec("rank", "--zoo", image_zoo / "zoo", "--images", tmp_path / "new", env=plugin_env)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.startswith("fennec: ")]
    assert len(lines) == 1 and lines[0].startswith("fennec: note: ") and "skipped 1 file(s)" in lines[0], lines
    quiet = _fennec("rank", "--zoo", image_zoo / "zoo", "--images", tmp_path / "new", "-q", env=plugin_env)
    assert quiet.returncode == 0 and quiet.stderr == ""  # a warning is a note: -q hides it


def test_no_readable_image_is_one_error_line_without_a_warning(image_zoo, plugin_env, tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "broken.png").write_bytes(b"not a png")
    res = _fennec("rank", "--zoo", image_zoo / "zoo", "--images", tmp_path / "bad", env=plugin_env)
    line = _refused(res, "no readable images", "1 file(s) were not readable")
    assert "warning" not in line


def test_decompression_bomb_is_refused_by_its_header(image_zoo, plugin_env, tmp_path):
    _save_png(tmp_path / "new" / "0.png", 1)
    _png_header_only(tmp_path / "new" / "bomb.png", 20000, 20000)
    assert (tmp_path / "new" / "bomb.png").stat().st_size < 200
    res = _fennec("rank", "--zoo", image_zoo / "zoo", "--images", tmp_path / "new", env=plugin_env)
    _refused(res, "bomb.png")


@pytest.mark.parametrize("side", [8000, 12000, 20000])
def test_images_over_the_pixel_limit_are_refused_naming_the_file(tmp_path, side):
    """50 megapixels is the limit; 12000^2 trips PIL's own bomb warning, 20000^2 its error:
    each is one InputError naming the file, found from the header alone."""
    from fennec_core.task.inputs import load_task_images

    _png_header_only(tmp_path / "huge.png", side, side)
    with pytest.raises(InputError, match=r"huge\.png.*(megapixel|too large)"):
        load_task_images(tmp_path)


def test_pixel_limit_applies_to_real_images(tmp_path, monkeypatch):
    from fennec_core import images
    from fennec_core.task import inputs

    _save_png(tmp_path / "a.png", 0, size=20)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 399)
    with pytest.raises(InputError, match=r"a\.png: image is 20x20 pixels"):
        inputs.load_task_images(tmp_path)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 400)
    assert len(inputs.load_task_images(tmp_path)) == 1


# -- 10: the Python API -------------------------------------------------------------------------


def test_fit_accepts_a_dataframe_and_an_array(files):
    import pandas as pd

    frame = pd.read_csv(files / "h.csv")
    from_csv = Fennec(device="cpu").fit(files / "h.csv").rank(top=6)
    from_frame = Fennec(device="cpu").fit(frame).rank(top=6)
    assert from_frame.model_ids == from_csv.model_ids
    np.testing.assert_allclose(from_frame.scores, from_csv.scores)
    scores = _history().scores.copy()
    scores[0, 1] = np.nan  # a missing cell
    engine = Fennec(device="cpu").fit(scores)
    assert engine.zoo_.history.model_ids == tuple("012345") and not engine.zoo_.history.mask[0, 1]
    with pytest.raises(InputError, match="DataFrame lacks column"):
        Fennec(device="cpu").fit(frame[["model", "task"]])
    with pytest.raises(InputError, match="DataFrame row 1: score 'x' is not a number"):
        Fennec(device="cpu").fit(pd.DataFrame({"model": ["a", "b"], "task": ["t", "t"], "score": [0.5, "x"]}))
    with pytest.raises(InputError, match="must be 2-D"):
        Fennec(device="cpu").fit(np.ones(4))


@pytest.fixture(scope="module")
def fitted():
    return Fennec(device="cpu").fit(_history())


@pytest.mark.parametrize("call, needle", [
    (lambda e: Fennec(device="cpu").fit([1, 2]), "history must be"),
    (lambda e: Fennec(device="cpu").fit(None), "history must be"),
    (lambda e: Fennec(device="cpu").fit(_history(), models=5), "models must be"),
    (lambda e: e.rank(known="string"), "known must be a dict"),
    (lambda e: e.rank(top=2.5), "top must be a whole number"),
    (lambda e: e.rank(top=0), "top must be a whole number"),
    (lambda e: e.rank(5), "task must be a TaskCard"),
    (lambda e: e.rank_many("t0"), "tasks must be a list"),
    (lambda e: Fennec.load(None), "path must be a store path"),
    (lambda e: e.save(None), "path must be a store path"),
    (lambda e: TaskCard("x", num_classes="ten"), "num_classes must be a whole number"),
    (lambda e: TaskCard("x", num_classes=2.5), "num_classes must be a whole number"),
    (lambda e: TaskCard(7), "TaskCard id"),
    (lambda e: TaskCard("x", meta={"size": "big"}), "is not a number"),
    (lambda e: ModelCard(7), "ModelCard id"),
    (lambda e: e.rank(task_vector="abc"), "task vector must be"),
    (lambda e: Fennec(device="tpu"), "device 'tpu'"),
    (lambda e: Fennec(device="cuda:x"), "device 'cuda:x'"),
    (lambda e: Fennec.load("anywhere", device="tpu"), "device 'tpu'"),
    (lambda e: Fennec(use_meta="maybe"), "use_meta"),
    (lambda e: Fennec(seed="abc"), "seed"),
    (lambda e: Fennec(factorizer_config="k=3"), "factorizer_config must be a dict"),
    (lambda e: Fennec(factorizer_config={"k": "abc"}), "pmf: k must be a whole number"),
])
def test_api_refuses_bad_arguments_naming_them(fitted, call, needle):
    with pytest.raises(FennecError, match=needle):
        call(fitted)


def test_save_under_a_file_is_a_fennec_error(fitted, files):
    with pytest.raises(FennecError, match="somefile.txt"):
        fitted.save(files / "somefile.txt" / "zoo")


def test_valid_devices_are_accepted():
    for device in ("auto", "cpu", "cuda", "cuda:1", "mps"):
        assert Fennec(device=device).device == device
