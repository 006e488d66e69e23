"""Writes never delete what they did not create, concurrent writers lose nothing, readers never
see a half-swapped store, data files never run code, and stores cannot make Fennec allocate
without bound. CLI cases run the real entry point in a subprocess."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fennec_core import Fennec
from fennec_core.errors import InputError, StoreError
from fennec_core.io import store
from fennec_core.io.tables import write_history
from fennec_core.records import History


def _run(*args, cwd=None, timeout=120, **env):
    full = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "fennec_core.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=full, timeout=timeout)


def _history(tasks, models=8, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.random((models, 2)) @ rng.random((2, len(tasks)))
    return History([f"m{i}" for i in range(models)], list(tasks), scores, np.ones_like(scores, bool))


@pytest.fixture
def victim(tmp_path):
    """A folder of the user's that no write may touch."""
    v = tmp_path / "victim"
    (v / "sub").mkdir(parents=True)
    (v / "notes.txt").write_text("my notes")
    (v / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return v


def _intact(v):
    return (v / "notes.txt").read_text() == "my notes" and (v / "sub" / "data.csv").is_file()


# -- writes never delete what they did not create -------------------------------------------------


@pytest.mark.slow
def test_fit_into_a_users_folder_by_file_url_refuses_and_keeps_it(tmp_path, victim):
    write_history(_history(["t0", "t1", "t2"]), tmp_path / "h.csv")
    r = _run("fit", "--history", tmp_path / "h.csv", "--out", f"file://{victim}", "-q")
    assert r.returncode == 2 and "not a Fennec zoo store" in r.stderr and r.stderr.count("\n") == 1
    assert _intact(victim)


@pytest.mark.slow
def test_file_urls_write_and_update_like_local_paths(tmp_path):
    write_history(_history(["t0", "t1", "t2"]), tmp_path / "h.csv")
    write_history(_history(["t3"], seed=1), tmp_path / "new.csv")
    url = f"file://{tmp_path}/zoo"
    assert _run("fit", "--history", tmp_path / "h.csv", "--out", url, "-q").returncode == 0
    r = _run("update", "--zoo", url, "--history", tmp_path / "new.csv", "-q")
    assert r.returncode == 0, r.stderr
    assert Fennec.load(tmp_path / "zoo").zoo_.task_ids == ("t0", "t1", "t2", "t3")


def test_a_store_holding_the_users_files_is_not_overwritten(tmp_path, small_history):
    path = tmp_path / "zoo"
    Fennec(device="cpu").fit(small_history).save(path)
    (path / "README.txt").write_text("mine")
    with pytest.raises(StoreError, match="not part of the zoo.*README.txt"):
        Fennec(device="cpu").fit(small_history).save(path)
    assert (path / "README.txt").read_text() == "mine"
    Fennec.load(path)  # and the zoo is still there


def test_remote_urls_never_wipe_a_foreign_folder():
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/foreign/notes.txt", b"keep me")
    eng = Fennec(device="cpu").fit(_history(["t0", "t1", "t2"]))
    with pytest.raises(StoreError, match="not a Fennec zoo store"):
        eng.save("memory://foreign")
    assert fs.cat("/foreign/notes.txt") == b"keep me"
    eng.save("memory://zoo-remote")
    eng.save("memory://zoo-remote")  # a second write replaces the store's own arrays only
    assert Fennec.load("memory://zoo-remote").rank().model_ids == eng.rank().model_ids


def test_killed_writers_leave_no_hidden_folders_behind(tmp_path, small_history):
    path = tmp_path / "zoo"
    Fennec(device="cpu").fit(small_history).save(path)
    leftover = tmp_path / ".zoo.tmp-deadbeef"
    leftover.mkdir()
    (leftover / "zarr.json").write_text("{}")
    Fennec(device="cpu").fit(small_history).save(path)
    assert not leftover.exists()


# -- concurrency ---------------------------------------------------------------------------------


def test_a_second_writer_from_a_stale_load_fails_and_loses_nothing(tmp_path):
    path = tmp_path / "zoo"
    Fennec(device="cpu").fit(_history(["t0", "t1", "t2"])).save(path)
    a, b = Fennec.load(path), Fennec.load(path)
    a.update(_history(["ta"], seed=1))
    a.save(path)
    b.update(_history(["tb"], seed=2))
    with pytest.raises(StoreError, match="changed by another writer"):
        b.save(path)
    assert "ta" in Fennec.load(path).zoo_.task_ids


def test_a_held_lock_times_out_naming_the_writer(tmp_path, small_history):
    path = tmp_path / "zoo"
    Fennec(device="cpu").fit(small_history).save(path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from fennec_core.io.store import store_lock\n"
        f"with store_lock({str(path)!r}):\n    print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=f"being updated by pid {holder.pid}"), \
                store.store_lock(path, timeout=0.3):
            pass
    finally:
        holder.kill()
        holder.wait()
    with store.store_lock(path, timeout=5):  # released when its holder died
        pass


def test_readers_never_see_a_half_swapped_store(tmp_path, small_history):
    path = tmp_path / "zoo"
    engines = [Fennec(device="cpu", seed=s).fit(small_history) for s in (0, 1)]
    engines[0].save(path)
    # two stores' contents written in turn by one writer, which expects no generation (an engine's
    # own save would refuse once the other engine had written: the writer then died and the
    # readers went on reading a store nobody changed)
    contents = [store.read_store(path)]
    engines[1].save(tmp_path / "other")
    contents.append(store.read_store(tmp_path / "other"))
    stop, errors, reads, writes = threading.Event(), [], [0], [0]

    def write():
        try:
            while not stop.is_set():
                arrays, manifest = contents[writes[0] % 2]
                manifest = {k: v for k, v in manifest.items()
                            if k not in ("format", "schema_version", "generation", "arrays", "shapes",
                                         "manifest_digest")}
                store.write_store(path, arrays, manifest)
                writes[0] += 1
                time.sleep(0.005)  # a writer that never pauses can starve lock-free readers; one that breathes cannot
        except Exception as exc:  # noqa: BLE001 -- reported by the assertion below
            errors.append(f"writer: {exc}")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            try:
                store.read_store(path)
                reads[0] += 1
            except StoreError as exc:
                errors.append(str(exc))
    finally:
        stop.set()
        writer.join()
    assert errors == [] and reads[0] > 10 and writes[0] > 3


# -- data never runs code ------------------------------------------------------------------------


def test_a_py_reference_in_a_models_table_is_refused(tmp_path):
    write_history(_history(["t0", "t1", "t2"], models=3), tmp_path / "h.csv")
    (tmp_path / "m.csv").write_text("model,architecture\nm0,py:os:abort\nm1,py:this:nothing\nm2,timm:resnet18\n")
    r = _run("fit", "--history", tmp_path / "h.csv", "--models", tmp_path / "m.csv", "--archi", "graph2vec",
             "--out", tmp_path / "zoo", "-q")
    assert r.returncode == 2 and "would import and run code" in r.stderr and "--allow-code" in r.stderr
    assert "Zen of Python" not in r.stdout and not (tmp_path / "zoo").exists()
    from fennec_core.io.tables import read_models

    with pytest.raises(InputError, match="line 2"):
        read_models(tmp_path / "m.csv")
    assert read_models(tmp_path / "m.csv", allow_code=True)[0].architecture == "py:os:abort"


# -- limits --------------------------------------------------------------------------------------


def _store(tmp_path, small_history):
    path = tmp_path / "zoo"
    Fennec(device="cpu").fit(small_history).save(path)
    return path


def test_an_array_declaring_more_than_its_files_hold_is_refused_before_reading(tmp_path, small_history):
    path = _store(tmp_path, small_history)
    meta_file = path / "factors" / "U" / "zarr.json"
    meta = json.loads(meta_file.read_text())
    meta["shape"] = [20000, 20000]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="shape|declares"):
        Fennec.load(path)


def test_symlinks_inside_a_store_are_refused(tmp_path, small_history):
    path = _store(tmp_path, small_history)
    chunk = next((path / "factors" / "U").rglob("c/*"))
    if chunk.is_dir():
        chunk = next(p for p in chunk.rglob("*") if p.is_file())
    chunk.unlink()
    chunk.symlink_to("/dev/zero")
    with pytest.raises(StoreError, match="symbolic link"):
        Fennec.load(path)


@pytest.mark.parametrize("version", [-1, 0, True, "1", 99])
def test_invalid_schema_versions_are_refused(tmp_path, small_history, version):
    path = _store(tmp_path, small_history)
    doc = json.loads((path / "zarr.json").read_text())
    doc["attributes"]["fennec"]["schema_version"] = version
    (path / "zarr.json").write_text(json.dumps(doc))
    with pytest.raises(StoreError, match="schema"):
        Fennec.load(path)


def test_an_oversized_manifest_is_refused_unread(tmp_path, small_history, monkeypatch):
    path = _store(tmp_path, small_history)
    monkeypatch.setattr(store, "MAX_MANIFEST_BYTES", 1000)
    with pytest.raises(StoreError, match="manifest is larger"):
        Fennec.load(path)


# -- the stress test -----------------------------------------------------------------------------


READER = """
import sys, time
from fennec_core.errors import StoreError
from fennec_core.io.store import read_store
end = time.monotonic() + float(sys.argv[2])
n = bad = 0
while time.monotonic() < end:
    try:
        read_store(sys.argv[1]); n += 1
    except StoreError as exc:
        if "corrupt" in str(exc) or "checksum" in str(exc) or "unreadable" in str(exc):
            bad += 1; print("BAD", exc, flush=True)
print("reads", n, "bad", bad, flush=True)
"""


@pytest.mark.slow
def test_stress_four_writers_four_readers_with_kill_9(tmp_path):
    """4 processes run `fennec update` in turn, each adding its own tasks, while 4 read the zoo,
    for 30 s; writers are killed with SIGKILL at random moments. Every update that reported
    success is in the final zoo, and no reader ever saw a corrupt store."""
    path = tmp_path / "zoo"
    Fennec(device="cpu").fit(_history(["t0", "t1", "t2"], models=10)).save(path)
    seconds, rng = 30.0, random.Random(0)
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(path), str(seconds)], stdout=subprocess.PIPE,
                                text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}) for _ in range(4)]
    done, killed, counter = [], 0, 0
    end = time.monotonic() + seconds
    running: list[tuple[subprocess.Popen, str, float]] = []
    while time.monotonic() < end or running:
        while time.monotonic() < end and len(running) < 4:
            counter += 1
            task = f"w{counter}"
            write_history(_history([task], models=10, seed=counter), tmp_path / f"{task}.csv")
            proc = subprocess.Popen([sys.executable, "-m", "fennec_core.cli", "update", "--zoo", str(path),
                                     "--history", str(tmp_path / f"{task}.csv"), "-q"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env={**os.environ, "HF_HUB_OFFLINE": "1"})
            running.append((proc, task, time.monotonic() + rng.uniform(0.3, 4.0) if rng.random() < 0.5 else None))
        for entry in list(running):
            proc, task, kill_at = entry
            if kill_at is not None and time.monotonic() > kill_at and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            if proc.poll() is not None:
                out, err = proc.communicate()
                if proc.returncode == 0:
                    done.append(task)
                else:
                    assert proc.returncode in (-9, 2), err  # killed, or refused cleanly
                running.remove(entry)
        time.sleep(0.05)
    final = set(Fennec.load(path).zoo_.task_ids)
    reports = [r.communicate()[0] for r in readers]
    print(f"stress: {counter} updates started, {len(done)} succeeded, {killed} killed; readers: "
          + "; ".join(r.strip().splitlines()[-1] for r in reports if r.strip()))
    assert done, "no update finished"
    assert set(done) <= final, f"lost updates: {sorted(set(done) - final)}"
    assert all(line.endswith("bad 0") for r in reports for line in r.strip().splitlines()[-1:]), reports
    assert not list(tmp_path.glob(".zoo.tmp-*")) or killed  # leftovers only from killed writers
