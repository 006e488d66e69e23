"""A store, a table or a path made by someone else is data: it never runs code, never makes Fennec
delete or alter what it did not write, never exhausts memory or hangs, and is refused with one
line (exit 2) when it is wrong. CLI cases run the real entry point in a subprocess."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from checks import refused as _refused

from fennec_core import Fennec
from fennec_core.errors import InputError, StoreError
from fennec_core.io.store import read_store, write_store
from fennec_core.records import History

# -- helpers ---------------------------------------------------------------------------------


def _fennec(*args, env=None, cwd=None, timeout=300, stdin=None):
    """The real entry point, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "fennec_core.cli", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, stdin=stdin)


def _history(m=6, n=4, seed=0):
    rng = np.random.default_rng(seed)
    scores = 0.5 + 0.3 * rng.random((m, n))
    return History([f"m{i}" for i in range(m)], [f"t{j}" for j in range(n)], scores, np.ones((m, n), bool))


def _edit_store(path: Path, edit) -> None:
    """Change a store's manifest with ``edit(manifest)`` and write it back with valid checksums (what
    an attacker who knows the format can do)."""
    arrays, manifest = read_store(path)
    edit(manifest)
    for key in ("format", "schema_version", "generation", "arrays", "shapes", "manifest_digest"):
        manifest.pop(key, None)
    write_store(path, arrays, manifest)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A 6 x 4 history CSV and a zoo fitted on it (models without features)."""
    from fennec_core.io.tables import write_history

    root = tmp_path_factory.mktemp("attacks")
    write_history(_history(), root / "h.csv")
    Fennec(device="cpu").fit(root / "h.csv").save(root / "zoo.zarr")
    return root


def _copy_zoo(root: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(root / "zoo.zarr", dest)
    return dest


# -- 1. a store never runs code --------------------------------------------------------------

CODE = "py:os:abort"  # kills the process with signal 6 if it ever runs


@pytest.fixture(scope="module")
def code_store(root):
    """A store whose manifest names ``py:os:abort`` as a model's architecture (checksums valid)."""
    path = _copy_zoo(root, root / "code.zarr")

    def edit(man):
        man["models"]["architecture"][0] = CODE

    _edit_store(path, edit)
    return path


@pytest.mark.parametrize("protocol", ["loo", "loo-warm:1", "loo-model", "search:2"])
def test_evaluate_never_runs_code_named_by_a_store(code_store, protocol):
    res = _fennec("evaluate", "--zoo", code_store, "--protocol", protocol, "-q")
    _refused(res, "would import and run code", "--allow-code")


def test_demo_never_runs_code_named_by_a_store(code_store):
    _refused(_fennec("demo", "--zoo", code_store, "--task", "t0", "-q"), "would import and run code")


def test_a_warm_architecture_cache_does_not_hide_code(code_store, tmp_path, monkeypatch):
    """Even when the reference was captured before (a cache hit would build nothing), it is refused."""
    from fennec_core.architecture.encoding import describe_architecture
    from fennec_core.architecture.sources import StoredReference, allow_code

    class Hit:
        def get(self, _ref):
            from fennec_core.records import ArchGraph

            return ArchGraph("x", {"nodes": [], "edges": []}, "x"), {"depth": 1.0}

        def put(self, *_a):
            raise AssertionError("nothing is captured")

    ref = StoredReference(CODE, str(code_store))
    with pytest.raises(InputError, match="would import and run code"):
        describe_architecture(ref, "m0", cache=Hit())
    with allow_code():  # the explicit opt-in: the cache may answer
        assert describe_architecture(ref, "m0", cache=Hit())[1] == {"depth": 1.0}


def test_api_load_then_evaluate_refuses_store_code(code_store):
    from fennec_core.architecture.sources import StoredReference
    from fennec_core.evaluation import evaluate

    eng = Fennec.load(code_store, device="cpu")
    assert isinstance(eng.zoo_.models["m0"].architecture, StoredReference)
    with pytest.raises(InputError, match="would import and run code"):
        evaluate(eng, protocol="loo")


def test_stored_reference_survives_pickling_and_copies(code_store):
    """Evaluate's worker processes receive cards by pickle: the mark must survive."""
    import pickle

    from fennec_core.architecture.sources import StoredReference, check_runnable

    ref = pickle.loads(pickle.dumps(StoredReference(CODE, "s")))
    assert isinstance(ref, StoredReference) and ref == CODE and ref.origin == "s"
    with pytest.raises(InputError):
        check_runnable(ref)
    check_runnable(CODE)  # the user's own reference (command line, API) is not a store's


def test_allow_code_is_the_explicit_opt_in(code_store, tmp_path):
    """With --allow-code the reference is built (here: a module that is not a torch module)."""
    mod = tmp_path / "mymods.py"
    mod.write_text("def notanet():\n    return 42\n")
    path = _copy_zoo(code_store.parent, tmp_path / "z.zarr")

    def edit(man):
        man["models"]["architecture"][0] = "py:mymods:notanet"

    _edit_store(path, edit)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    _refused(_fennec("evaluate", "--zoo", path, "-q", env=env), "would import and run code")
    _refused(_fennec("evaluate", "--zoo", path, "-q", "--allow-code", env=env), "not a torch.nn.Module")


def test_a_manifest_edit_fails_its_checksum(root, tmp_path):
    path = _copy_zoo(root, tmp_path / "z.zarr")
    doc = json.loads((path / "zarr.json").read_text())
    doc["attributes"]["fennec"]["models"]["architecture"][0] = CODE
    (path / "zarr.json").write_text(json.dumps(doc))
    _refused(_fennec("rank", "--zoo", path, "--task", "t0"), "manifest fails its checksum")


# -- 2. writes never delete or alter what Fennec did not write --------------------------------


def _fit(root: Path, out, *more, env=None, cwd=None):
    return _fennec("fit", "--history", root / "h.csv", "--out", out, "-q", *more, env=env, cwd=cwd)


@pytest.mark.parametrize("command", ["fit", "update-out", "update-in-place"])
def test_user_files_inside_a_store_survive(root, tmp_path, command):
    import zarr

    store = _copy_zoo(root, tmp_path / "zoo.zarr")
    (store / "factors" / "mine.txt").write_text("my notes\n")
    zarr.open_group(str(store), mode="a").create_array("mydata", data=np.arange(3.0))
    if command == "fit":
        res = _fit(root, store)
    else:
        out = ["--out", store] if command == "update-out" else []
        res = _fennec("update", "--zoo", store, "--history", root / "h.csv", *out, "-q")
    _refused(res, "not part of the zoo", "mine.txt")
    assert (store / "factors" / "mine.txt").read_text() == "my notes\n"
    np.testing.assert_array_equal(zarr.open_array(str(store / "mydata"))[...], np.arange(3.0))


@pytest.mark.parametrize("sub", ["sub.zarr", "factors", "factors/new.zarr"])
def test_out_inside_another_store_is_refused_and_creates_nothing(root, tmp_path, sub):
    store = _copy_zoo(root, tmp_path / "zoo.zarr")
    before = sorted(p.relative_to(store).as_posix() for p in store.rglob("*"))
    _refused(_fit(root, store / sub), "inside the Zarr store")
    assert sorted(p.relative_to(store).as_posix() for p in store.rglob("*")) == before  # no lock, no folder
    res = _fennec("update", "--zoo", store, "--history", root / "h.csv", "-q")
    assert res.returncode == 0, res.stderr


def test_a_glob_in_out_never_removes_another_writers_temp_folder(root, tmp_path):
    other = tmp_path / ".zoo.zarr.tmp-abcdef12"
    other.mkdir()
    (other / "zarr.json").write_text("{}")
    res = _fit(root, "zoo*", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (other / "zarr.json").is_file()


@pytest.mark.parametrize("command", ["fit", "update", "add-model"])
def test_the_bundled_zoo_inside_the_package_is_never_overwritten(root, command):
    # the bundled zoo of the package the entry point imports (run from a source checkout, that is
    # the checkout's, not the one installed beside the test runner)
    probe = subprocess.run([sys.executable, "-c", "from fennec_core.io.bundled import bundled_zoo_path as p; "
                            "print(p())"], capture_output=True, text=True, timeout=60, check=True)
    path = probe.stdout.strip()
    before = (Path(path) / "zarr.json").read_bytes()
    if command == "fit":
        res = _fit(root, path)
    elif command == "update":
        res = _fennec("update", "--zoo", "pytorchcv105", "--history", root / "h.csv", "--out", path, "-q")
    else:
        res = _fennec("add-model", "--zoo", "pytorchcv105", "--model", "pytorchcv:resnet10", "--out", path, "-q")
    _refused(res, "bundled zoo")
    assert (Path(path) / "zarr.json").read_bytes() == before


def test_a_symlinked_lock_file_is_never_followed(root, tmp_path):
    important = tmp_path / "important.txt"
    important.write_text("precious\n")
    (tmp_path / "out.zarr.fennec-lock").symlink_to(important)
    _refused(_fit(root, tmp_path / "out.zarr"), "fennec-lock", "symbolic link")
    assert important.read_text() == "precious\n"
    assert not (tmp_path / "out.zarr").exists()


def test_a_hard_linked_lock_file_is_never_written(root, tmp_path):
    important = tmp_path / "important.txt"
    important.write_text("precious\n")
    os.link(important, tmp_path / "out.zarr.fennec-lock")
    _refused(_fit(root, tmp_path / "out.zarr"), "hard link")
    assert important.read_text() == "precious\n"


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_fifo_or_folder_where_the_lock_goes_is_refused(root, tmp_path, kind):
    lock = tmp_path / "out.zarr.fennec-lock"
    os.mkfifo(lock) if kind == "fifo" else lock.mkdir()
    _refused(_fit(root, tmp_path / "out.zarr"), "fennec-lock")


def test_out_a_symlink_to_a_store_is_refused_and_the_store_stays_usable(root, tmp_path):
    store = _copy_zoo(root, tmp_path / "zoo.zarr")
    (tmp_path / "link.zarr").symlink_to(store)
    _refused(_fit(root, tmp_path / "link.zarr"), "symbolic link")
    _refused(_fennec("update", "--zoo", store, "--out", tmp_path / "link.zarr", "--history", root / "h.csv", "-q"),
             "symbolic link")
    res = _fennec("update", "--zoo", store, "--history", root / "h.csv", "-q")
    assert res.returncode == 0, res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "link2.zarr").symlink_to(empty)
    _refused(_fit(root, tmp_path / "link2.zarr"), "symbolic link")


@pytest.mark.parametrize("out", [".", "/", "file://", "http://127.0.0.1:9/zoo.zarr"])
def test_out_paths_that_name_no_store_are_refused(root, tmp_path, out):
    _refused(_fit(root, out, cwd=tmp_path))
    assert sorted(os.listdir(tmp_path)) == []


# -- 3. bombs: decompressed sizes bounded by what the manifest declares ------------------------


def _chunk_files(store: Path, name: str) -> list[Path]:
    return sorted(p for p in (store / name / "c").rglob("*") if p.is_file())


def test_a_zstd_chunk_that_inflates_past_its_chunk_is_refused_before_decoding(root, tmp_path):
    import struct

    store = _copy_zoo(root, tmp_path / "z.zarr")
    chunk = _chunk_files(store, "factors/U")[0]
    # a zstd frame header declaring 1 GiB of content (single segment, 8-byte size), then junk
    chunk.write_bytes(b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + struct.pack("<Q", 1 << 30) + b"\x00" * 32)
    with pytest.raises(StoreError, match="inflate to 1,073,741,824 bytes"):
        read_store(store)
    _refused(_fennec("rank", "--zoo", store, "--task", "t0"), "inflate")


def test_codecs_fennec_never_writes_are_refused(root, tmp_path):
    store = _copy_zoo(root, tmp_path / "z.zarr")
    meta_path = store / "factors" / "U" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["codecs"] = [{"name": "bytes", "configuration": {"endian": "little"}},
                      {"name": "gzip", "configuration": {"level": 1}}]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="codecs"):
        read_store(store)


def test_a_small_store_cannot_declare_gigabytes_of_arrays(root, tmp_path):
    """Zero arrays compress to almost nothing; with valid checksums they are bounded by the zoo's shape."""
    from fennec_core.io.store_limits import shape_budget

    store = _copy_zoo(root, tmp_path / "z.zarr")
    arrays, manifest = read_store(store)
    budget = shape_budget(manifest)
    extra = {f"junk/a{i}": np.zeros(budget // 8 // 2, np.float64) for i in range(3)}  # 1.5 x the budget
    for key in ("format", "schema_version", "generation", "arrays", "shapes", "manifest_digest"):
        manifest.pop(key)
    write_store(store, {**arrays, **extra}, manifest)
    assert sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) < 2 << 20
    with pytest.raises(StoreError, match="more than a zoo of its shape needs"):
        read_store(store)


def test_compressed_tables_are_streamed_with_a_cap(root, tmp_path):
    bomb = tmp_path / "h.csv.gz"
    with gzip.open(bomb, "wb") as fh:
        fh.write(b"model,task,score\n" + b"0" * (4 << 20))
    env = dict(os.environ, FENNEC_MAX_TABLE_BYTES=str(1 << 20))
    _refused(_fennec("fit", "--history", bomb, "--out", tmp_path / "o.zarr", env=env), "decompresses to more than")
    _refused(_fennec("rank", "--zoo", root / "zoo.zarr", "--task", "t0", "--known", bomb, env=env),
             "decompresses to more than")


# -- 4. hangs: only regular files are read ---------------------------------------------------


def test_a_fifo_in_place_of_a_chunk_is_refused_at_once(root, tmp_path):
    store = _copy_zoo(root, tmp_path / "z.zarr")
    chunk = _chunk_files(store, "factors/U")[0]
    chunk.unlink()
    os.mkfifo(chunk)
    _refused(_fennec("rank", "--zoo", store, "--task", "t0", timeout=60), "not a regular file")
    _refused(_fennec("update", "--zoo", store, "--history", root / "h.csv", timeout=60), "not a regular file")


def test_a_device_in_place_of_a_chunk_is_refused(root, tmp_path):
    """A character device (/dev/zero's numbers) as a chunk would be read without end."""
    import stat

    store = _copy_zoo(root, tmp_path / "z.zarr")
    chunk = _chunk_files(store, "factors/U")[0]
    chunk.unlink()
    try:
        os.mknod(chunk, 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    except OSError:
        pytest.skip("cannot create a device node here (needs CAP_MKNOD)")
    with pytest.raises(StoreError, match="not a regular file"):
        read_store(store)


@pytest.mark.parametrize("command", ["rank", "fit", "convert", "update"])
def test_dev_zero_and_fifos_as_tables_are_refused(root, tmp_path, command):
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    for bad in ("/dev/zero", fifo):
        args = {"rank": ["rank", "--zoo", root / "zoo.zarr", "--task", "t0", "--known", bad],
                "fit": ["fit", "--history", bad, "--out", tmp_path / "o.zarr"],
                "convert": ["convert", bad, "--out", tmp_path / "o.csv", "--wide"],
                "update": ["update", "--zoo", root / "zoo.zarr", "--history", bad, "--out", tmp_path / "u.zarr"]}
        _refused(_fennec(*args[command], timeout=60), "not a regular file")


def test_next_batch_is_bounded_like_the_server(root):
    _refused(_fennec("next", "--zoo", root / "zoo.zarr", "--task", "t0", "--batch", "500"), "at most 20")


# -- 5. the service --------------------------------------------------------------------------


def _client(root: Path, tmp_path: Path, base_url: str = "http://localhost", **options):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from fennec_core.serve.app import create_app
    from fennec_core.serve.settings import resolve_settings

    settings = resolve_settings(zoos=[str(root / "zoo.zarr")], data_dir=str(tmp_path), preload_text=False, **options)
    return TestClient(create_app(settings), raise_server_exceptions=False, base_url=base_url)


def test_a_utf16_body_is_refused(root, tmp_path):
    http = _client(root, tmp_path)
    body = json.dumps({"task": "t0"})
    ok = http.post("/rank", content=body.encode(), headers={"content-type": "application/json"})
    assert ok.status_code == 200, ok.text
    for encoding in ("utf-16", "utf-16-le", "utf-32"):
        res = http.post("/rank", content=body.encode(encoding), headers={"content-type": "application/json"})
        assert res.status_code == 400 and "UTF-8" in res.json()["detail"], (encoding, res.text)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", ""])
def test_only_the_served_host_names_are_answered(root, tmp_path, host):
    http = _client(root, tmp_path)
    res = http.get("/health", headers={"host": host})
    assert res.status_code == 400 and res.json()["error"] == "bad request", res.text
    for good in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        assert http.get("/health", headers={"host": good}).status_code == 200, good


def test_allowed_host_names_extend_the_list(root, tmp_path):
    http = _client(root, tmp_path, allowed_hosts=["*.example.com", "api.internal"])
    assert http.get("/health", headers={"host": "a.example.com"}).status_code == 200
    assert http.get("/health", headers={"host": "api.internal:80"}).status_code == 200
    assert http.get("/health", headers={"host": "example.org"}).status_code == 400
    with pytest.raises(InputError, match="--allowed-host"):
        _client(root, tmp_path, allowed_hosts=["bad host/"])


def test_serve_checks_every_option_before_its_banner(root):
    pytest.importorskip("fastapi")
    res = _fennec("serve", "--zoo", root / "zoo.zarr", "--device", "bogus", "--port", "0", timeout=60)
    _refused(res, "--device")
    assert "serving" not in res.stdout + res.stderr


# -- 6. terminal escapes are printed escaped -------------------------------------------------

EVIL = "\x1b[2J\x1b]0;pwned\x07evil"


@pytest.fixture(scope="module")
def evil_zoo(tmp_path_factory):
    from fennec_core.io.tables import write_history

    root = tmp_path_factory.mktemp("evil")
    hist = History([EVIL, "m1", "m2"], ["t0", "t1"], np.array([[0.5, 0.4], [0.6, 0.7], [0.3, 0.2]]),
                   np.ones((3, 2), bool))
    write_history(hist, root / "h.csv")
    res = _fennec("fit", "--history", root / "h.csv", "--out", root / "z.zarr", "-q")
    assert res.returncode == 0, res.stderr
    return root / "z.zarr"


@pytest.mark.parametrize("args", [["rank", "--task", "t0"], ["zoo", "info"], ["rank", "--task", "t0", "--known", "KNOWN"]])
def test_control_characters_in_ids_never_reach_the_terminal(evil_zoo, tmp_path, args):
    known = tmp_path / "known.csv"
    known.write_text(f"model,score\n\"{EVIL}x\",0.5\n")
    args = [str(known) if a == "KNOWN" else a for a in args]
    res = _fennec(*args, "--zoo", evil_zoo)
    for stream in (res.stdout, res.stderr):
        assert "\x1b" not in stream and "\x07" not in stream, stream
    assert "\\x1b[2J" in res.stdout + res.stderr


# -- 7. the manifest's fields and schema rule -----------------------------------------------


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda m: m.__setitem__("ranker", []), "ranker must be an object"),
    (lambda m: m.__setitem__("rankers", [1]), "rankers must be an object"),
    (lambda m: m["settings"].__setitem__("resolved_warm_strength", float("nan")), "resolved_warm_strength"),
    (lambda m: m["tasks"][0].__setitem__("num_classes", 10**400), "num_classes"),
    (lambda m: m["tasks"][0].__setitem__("num_classes", True), "num_classes"),
    (lambda m: m["models"].__setitem__("architecture", [5] * 6), "models.architecture"),
    (lambda m: m.__setitem__("task_ids", ["t0", "t0", "t1", "t2"]), "task_ids"),
])
def test_malformed_manifest_fields_are_one_line(root, tmp_path, edit, needle):
    path = _copy_zoo(root, tmp_path / "z.zarr")
    _edit_store(path, edit)
    _refused(_fennec("rank", "--zoo", path, "--task", "t0"), needle)


def test_a_shapes_entry_that_is_a_list_is_refused(root, tmp_path):
    path = _copy_zoo(root, tmp_path / "z.zarr")
    doc = json.loads((path / "zarr.json").read_text())
    man = doc["attributes"]["fennec"]
    man["shapes"]["factors/U"] = [3, 2]
    man.pop("manifest_digest")
    (path / "zarr.json").write_text(json.dumps(doc))
    _refused(_fennec("rank", "--zoo", path, "--task", "t0"), "shapes.factors/U must be an object")


def test_a_store_claiming_schema_1_over_schema_2_arrays_is_refused(root, tmp_path):
    path = _copy_zoo(root, tmp_path / "z.zarr")
    doc = json.loads((path / "zarr.json").read_text())
    doc["attributes"]["fennec"]["schema_version"] = 1
    doc["attributes"]["fennec"].pop("manifest_digest")
    (path / "zarr.json").write_text(json.dumps(doc))
    _refused(_fennec("rank", "--zoo", path, "--task", "t0"), "schema_version says 1")


# -- 8. wrong exit codes and contracts ------------------------------------------------------


def test_python_float_spellings_are_not_scores(tmp_path):
    (tmp_path / "h.csv").write_text("model,task,score\nm0,t0,1_000\nm1,t0,0.5\n")
    _refused(_fennec("fit", "--history", tmp_path / "h.csv", "--out", tmp_path / "o.zarr"), "line 2", "'1_000'")


def test_convert_refuses_a_duplicated_header_and_reads_an_unnamed_index(tmp_path):
    (tmp_path / "dup.csv").write_text("model,t0,t0\nm0,1,2\nm1,3,4\n")
    _refused(_fennec("convert", tmp_path / "dup.csv", "--wide", "--out", tmp_path / "o.csv"), "duplicate column")
    (tmp_path / "idx.csv").write_text(",t0,t1\nm0,1,2\nm1,3,4\n")
    res = _fennec("convert", tmp_path / "idx.csv", "--wide", "--out", tmp_path / "o.csv")
    assert res.returncode == 0, res.stderr


def test_a_tasks_table_listing_a_task_twice_is_refused(root, tmp_path):
    (tmp_path / "t.csv").write_text("task,num_classes\nt0,3\nt0,4\n")
    _refused(_fennec("fit", "--history", root / "h.csv", "--tasks", tmp_path / "t.csv", "--out", tmp_path / "o.zarr"),
             "line 3", "listed twice")


def test_an_over_long_field_names_its_line_and_the_limit(root, tmp_path):
    (tmp_path / "t.csv").write_text("task,description\nt0,short\nt1," + "x" * 200_000 + "\n")
    _refused(_fennec("fit", "--history", root / "h.csv", "--tasks", tmp_path / "t.csv", "--out", tmp_path / "o.zarr"),
             "line 3", "131,072 characters")


def test_next_with_every_model_known_says_so_and_succeeds(root, tmp_path):
    known = tmp_path / "k.csv"
    known.write_text("model,score\n" + "".join(f"m{i},0.{i + 1}\n" for i in range(6)))
    res = _fennec("next", "--zoo", root / "zoo.zarr", "--task", "new", "--known", known)
    assert res.returncode == 0, res.stderr
    assert "nothing left to propose" in res.stdout


@pytest.mark.parametrize(("argv", "needle"), [
    (["--config", "factorizer.k=null"], "null is not a value"),
    (["--config", "ranker.epochs=-1"], "add --ranker NAME"),
    (["--ranker", "model-spider", "--config", "ranker.epochs=-1"], "epochs must be a whole number >= 1"),
    (["--ranker", "model-spider", "--config", "ranker.dropout=1.5"], "dropout must be a number in [0, 1)"),
])
def test_component_options_that_mean_nothing_are_refused(root, tmp_path, argv, needle):
    """``k=null`` silently became the default k; ranker options without a ranker were ignored;
    Model Spider took -1 epochs."""
    _refused(_fennec("fit", "--history", root / "h.csv", "--out", tmp_path / "o.zarr", *argv), needle)
    assert not (tmp_path / "o.zarr").exists()


# -- 9. a new user's path --------------------------------------------------------------------


def test_an_unknown_task_id_names_the_closest_ids(root):
    _refused(_fennec("rank", "--zoo", root / "zoo.zarr", "--task", "t00"), "--task t00", "closest: t0", "--new-task")
    res = _fennec("rank", "--zoo", root / "zoo.zarr", "--task", "t00", "--new-task", "-q")
    assert res.returncode == 0, res.stderr
    res = _fennec("rank", "--zoo", root / "zoo.zarr", "--task", "t00", "--num-classes", "3", "-q")
    assert res.returncode == 0, res.stderr


def test_an_unknown_known_model_names_the_closest_ids(tmp_path):
    (tmp_path / "k.csv").write_text("model,score\nresnet5,0.5\n")
    _refused(_fennec("rank", "--known", tmp_path / "k.csv"), "unknown model 'resnet5'", "closest: resnet50")


@pytest.mark.slow
def test_a_refit_during_update_trains_the_zoos_other_rankers_again(tmp_path):
    """The bundled zoo holds a trained Model Spider; an update that refits dropped it."""
    from fennec_core.io import catalog

    engine = Fennec.load(catalog.get("pytorchcv105").path, device="cpu")
    assert "model-spider" in engine.zoo_.rankers
    report = engine.update(History.from_long([("resnet50", "flower", 0.5)]))
    assert report["refit"] and report["retrained_rankers"] == ["model-spider"]
    assert "model-spider" in engine.zoo_.rankers
    engine.save(tmp_path / "z")
    assert Fennec.load(tmp_path / "z", ranker="model-spider").rank(description="photos of flowers", top=3).model_ids


def test_no_cache_without_models_is_refused_not_ignored(root, tmp_path):
    _refused(_fennec("fit", "--history", root / "h.csv", "--no-cache", "--out", tmp_path / "o.zarr"),
             "--no-cache re-captures the architectures of --models")
    assert not (tmp_path / "o.zarr").exists()
