"""The Zarr store: round trips, atomic writes, and refusal of foreign, corrupt or newer stores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fennec_core.engine import Fennec
from fennec_core.errors import StoreError
from fennec_core.io import store


@pytest.fixture
def zoo(tmp_path, small_history):
    eng = Fennec(device="cpu").fit(small_history)
    path = tmp_path / "zoo"
    eng.save(path)
    return eng, path


def _chunk_files(path):
    return sorted(p for p in path.rglob("c/*") if p.is_file()) + sorted(p for p in path.rglob("c/*/*") if p.is_file())


def test_round_trip_same_ranking(zoo):
    eng, path = zoo
    back = Fennec.load(path, device="cpu")
    a, b = eng.rank("t0"), back.rank("t0")
    assert a.model_ids == b.model_ids
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(back.zoo_.history.mask, eng.zoo_.history.mask)


def test_truncated_store_refused(zoo):
    _, path = zoo
    shutil.rmtree(path / "factors" / "U")
    with pytest.raises(StoreError, match="'factors/U' is missing or unreadable.*truncated or corrupt"):
        Fennec.load(path)


def test_corrupt_chunk_refused(zoo):
    _, path = zoo
    chunk = next(p for p in (path / "factors" / "V").rglob("*") if p.is_file() and p.name != "zarr.json")
    data = bytearray(chunk.read_bytes())
    data[-1] ^= 0xFF
    chunk.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="factors/V"):
        Fennec.load(path)


def test_foreign_zarr_store_refused(tmp_path):
    import zarr

    g = zarr.open_group(str(tmp_path / "foreign"), mode="w")
    g.create_array(name="x", data=np.arange(3))
    with pytest.raises(StoreError, match="not a Fennec zoo"):
        Fennec.load(tmp_path / "foreign")
    with pytest.raises(StoreError, match="not a Fennec zoo store; refusing to overwrite"):
        store.write_store(tmp_path / "foreign", {"a": np.ones(2)}, {})


def test_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="no zoo store here"):
        Fennec.load(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(StoreError, match="not a Zarr store"):
        Fennec.load(tmp_path / "plain")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "zarr.json").write_text("{not json")
    with pytest.raises(StoreError, match="cannot be opened"):
        Fennec.load(tmp_path / "broken")


def test_newer_schema_refused(zoo):
    _, path = zoo
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["fennec"]["schema_version"] = store.SCHEMA_VERSION + 1
    (path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=f"schema {store.SCHEMA_VERSION + 1} by .* reads schema 1 to {store.SCHEMA_VERSION}: upgrade fennec"):
        Fennec.load(path)


def test_incomplete_manifest_refused(zoo):
    _, path = zoo
    meta = json.loads((path / "zarr.json").read_text())
    del meta["attributes"]["fennec"]["components"]
    (path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="manifest fails its checksum"):
        Fennec.load(path)
    del meta["attributes"]["fennec"]["manifest_digest"]  # as a store written before manifests had one
    (path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="manifest's components must be an object"):
        Fennec.load(path)


def test_crash_mid_write_keeps_previous(zoo, monkeypatch, small_history):
    eng, path = zoo
    before = Fennec.load(path).rank("t1").model_ids

    real = store._write_group

    def crash(target, arrays, manifest, **kwargs):
        real(target, dict(list(arrays.items())[:2]), manifest, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(store, "_write_group", crash)
    with pytest.raises(OSError, match="disk full"):
        eng.save(path)
    assert Fennec.load(path).rank("t1").model_ids == before
    assert not list(path.parent.glob(".zoo.tmp-*"))  # the temporary folder is cleaned up


def test_crash_inside_swap_recovers_previous(zoo, small_history):
    """A writer killed between its two renames leaves the swap marker and the previous store:
    readers use the previous store, and the next writer puts it back before writing."""
    eng, path = zoo
    path.rename(str(path) + store.PREVIOUS_SUFFIX)
    Path(str(path) + store.SWAP_SUFFIX).write_text("12345\n")
    assert Fennec.load(path).rank("t1").model_ids == eng.rank("t1").model_ids
    Fennec(device="cpu").fit(small_history).save(path)
    assert not Path(str(path) + store.SWAP_SUFFIX).exists() and not Path(str(path) + store.PREVIOUS_SUFFIX).exists()


def test_a_stale_previous_store_is_never_loaded(zoo):
    """The user deleted the zoo; a leftover <zoo>.fennec-previous without a swap under way is not it."""
    _, path = zoo
    path.rename(str(path) + store.PREVIOUS_SUFFIX)
    with pytest.raises(StoreError, match="no zoo store here.*leftover"):
        Fennec.load(path)


def test_overwrite_existing_store(zoo, small_history):
    eng, path = zoo
    eng2 = Fennec("nmf", device="cpu", factorizer_config={"k": 2}).fit(small_history)
    eng2.save(path)
    assert Fennec.load(path).zoo_.factors.k == 2


def test_fsspec_url_round_trip(small_history):
    eng = Fennec(device="cpu").fit(small_history)
    eng.save("memory://fennec-test/zoo")
    back = Fennec.load("memory://fennec-test/zoo")
    assert back.rank("t2").model_ids == eng.rank("t2").model_ids


def test_object_arrays_refused(tmp_path):
    with pytest.raises(StoreError, match="numeric arrays only"):
        store.write_store(tmp_path / "s", {"x": np.array([object()])}, {})


names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
arrays = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.int64, np.uint8]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
)


@settings(max_examples=25, deadline=None)
@given(content=st.dictionaries(names, arrays, min_size=1, max_size=4), attrs=st.dictionaries(names, st.integers()))
def test_store_round_trip_any_arrays(tmp_path_factory, content, attrs):
    path = tmp_path_factory.mktemp("s") / "store"
    store.write_store(path, content, {"user": attrs})
    back, manifest = store.read_store(path)
    assert manifest["user"] == attrs
    assert set(back) == set(content)
    for k, v in content.items():
        np.testing.assert_array_equal(back[k], v)
        assert back[k].dtype == v.dtype
