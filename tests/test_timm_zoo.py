"""The shipped source tables of the ``timm`` zoo (fennec_core/data/timm, built by
scripts/zoos/build_timm_zoo.py from timm's published ImageNet results) are consistent, and the
script's pretrained-tag parser reads real timm names right. Fast: nothing is captured or fitted."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "fennec_core" / "data" / "timm"
SCRIPT = ROOT / "scripts" / "zoos" / "build_timm_zoo.py"
RAW = ROOT / "tests" / "data" / "timm_results"  # timm's published results (tests/data/SOURCES.md)
TASKS = ("imagenet", "imagenet_real", "imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r")
ARCH_COLUMNS = ("log10_params", "conv_linear_layers", "depth", "log10_flops", "input_size")


def _script():
    spec = importlib.util.spec_from_file_location("build_timm_zoo", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(name: str) -> list[dict[str, str]]:
    raw = (ZOO / name).read_bytes()
    text = (gzip.decompress(raw) if name.endswith(".gz") else raw).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture(scope="module")
def failures() -> dict[str, dict[str, str]]:
    """kind -> {item: reason} from failures.csv."""
    out: dict[str, dict[str, str]] = {}
    for r in _rows("failures.csv"):
        out.setdefault(r["kind"], {})[r["item"]] = r["reason"]
    return out


@pytest.fixture(scope="module")
def history():
    from fennec_core.io.tables import read_history

    return read_history(ZOO / "history.csv.gz")


@pytest.fixture(scope="module")
def models():
    from fennec_core.io.tables import read_models

    return read_models(ZOO / "models.csv.gz")


def test_shipped_files_are_there_and_small():
    names = ("history.csv.gz", "models.csv.gz", "models_info.csv.gz", "tasks.csv", "archi.json.gz", "failures.csv")
    sizes = {n: (ZOO / n).stat().st_size for n in names}
    assert sum(sizes.values()) < 12 * 2**20, sizes


def test_history_has_six_scores_per_model_or_a_documented_gap(history, failures):
    assert sorted(history.task_ids) == sorted(TASKS)
    assert len(history.model_ids) > 1000
    observed = history.mask
    assert np.all((history.scores[observed] >= 0) & (history.scores[observed] <= 1))
    missing = {f"{m}/{t}" for i, m in enumerate(history.model_ids) for j, t in enumerate(history.task_ids)
               if not observed[i, j]}
    assert missing == set(failures.get("missing_score", {}))
    assert len(missing) < 10  # one model is absent from one results file
    assert all(failures["missing_score"][k] for k in missing)


def test_every_model_has_architecture_features(models, history, failures):
    assert [c.id for c in models] == sorted(history.model_ids)
    failed_archs = set(failures.get("architecture", {}))
    assert all(failures["architecture"][a] for a in failed_archs)  # every failure has its reason
    pcs = [k for k in models[0].meta if k.startswith("arch_pc_")]
    assert len(pcs) == 4
    for card in models:
        arch, _, tag = card.id.partition(".")
        assert tag and card.architecture == f"timm:{arch}"
        if card.architecture in failed_archs:
            continue
        for col in (*ARCH_COLUMNS, *pcs):
            assert math.isfinite(card.meta[col]), (card.id, col)
        for col in ("log10_param_count", "img_size", "crop_pct"):
            assert math.isfinite(card.meta[col]), (card.id, col)
        assert card.meta["pt_in1k"] in (0.0, 1.0)
    # the architecture's parameter count agrees with timm's reported one (1,000-class heads)
    close = [abs(c.meta["log10_params"] - c.meta["log10_param_count"]) < 0.01 for c in models if "log10_params" in c.meta]
    assert np.mean(close) > 0.97


def test_tasks_table(history):
    from fennec_core.io.tables import read_tasks

    tasks = {t.id: t for t in read_tasks(ZOO / "tasks.csv")}
    assert set(tasks) == set(history.task_ids)
    assert {t: tasks[t].num_classes for t in tasks} == {"imagenet": 1000, "imagenet_real": 1000, "imagenet_v2": 1000,
                                                        "imagenet_sketch": 1000, "imagenet_a": 200, "imagenet_r": 200}
    assert all(t.train_size == 1281167 and t.description for t in tasks.values())
    assert (ZOO / "tasks.csv").read_bytes() == (ROOT / "scripts" / "zoos" / "timm_tasks.csv").read_bytes()


def test_models_info_lists_the_same_models(models):
    info = _rows("models_info.csv.gz")
    assert [r["model"] for r in info] == [c.id for c in models]
    assert all(r["family"] and r["pretrain"] for r in info)
    by_id = {c.id: c for c in models}
    for r in info:
        assert r["architecture"] == by_id[r["model"]].architecture
        if r["test_img_size"]:
            assert int(r["test_img_size"]) > int(r["img_size"])


def test_archi_encoding_reproduces_the_shipped_components(models):
    from fennec_core.architecture.encoding import ArchiEncoding

    with gzip.open(ZOO / "archi.json.gz", "rt") as fh:
        encoding = ArchiEncoding.from_document(json.load(fh))
    assert encoding.encoder == "graph2vec" and encoding.dims == 4
    refs = encoding.model_ids
    assert refs == sorted(set(refs))
    with_features = {c.architecture for c in models if "arch_pc_0" in c.meta}
    assert set(refs) == with_features
    feats = dict(zip(refs, encoding.features(encoding.vectors), strict=True))
    for card in models:
        if card.architecture in feats:
            for k, v in feats[card.architecture].items():
                assert card.meta[k] == pytest.approx(v, abs=2e-6)


@pytest.mark.skipif(not RAW.is_dir(), reason="the raw timm results (tests/data/timm_results) are not here")
def test_history_matches_the_raw_results(history):
    models, _, scores, _ = _script().read_results(RAW)
    assert models == sorted(history.model_ids)
    col = {t: j for j, t in enumerate(history.task_ids)}
    for i, m in enumerate(history.model_ids):
        for t, s in scores[m].items():
            assert history.scores[i, col[t]] == s


@pytest.mark.parametrize(("name", "expected"), [
    ("convnext_tiny.fb_in22k_ft_in1k", {"pt_in22k"}),
    ("convnext_nano.in12k_ft_in1k", {"pt_in12k"}),
    ("vit_base_patch16_224.augreg_in21k_ft_in1k", {"pt_in22k"}),
    ("vit_base_patch16_224.augreg_in1k", {"pt_in1k"}),
    ("vit_base_patch16_clip_224.openai_ft_in1k", {"pt_web", "pt_image_text"}),
    ("convnext_xxlarge.clip_laion2b_soup_ft_in1k", {"pt_web", "pt_image_text"}),
    ("vit_so400m_patch14_siglip_378.webli_ft_in1k", {"pt_web", "pt_image_text"}),
    ("eva02_large_patch14_448.mim_m38m_ft_in22k_in1k", {"pt_web", "pt_in22k", "pt_selfsup"}),
    ("eva_giant_patch14_560.m30m_ft_in22k_in1k", {"pt_web", "pt_in22k", "pt_selfsup"}),
    ("beitv2_base_patch16_224.in1k_ft_in22k_in1k", {"pt_in22k", "pt_selfsup"}),
    ("convnextv2_tiny.fcmae_ft_in1k", {"pt_in1k", "pt_selfsup"}),
    ("resnet50.fb_swsl_ig1b_ft_in1k", {"pt_web", "pt_semisup"}),
    ("resnet50.fb_ssl_yfcc100m_ft_in1k", {"pt_web", "pt_semisup"}),
    ("tf_efficientnet_l2.ns_jft_in1k", {"pt_web", "pt_semisup"}),
    ("regnety_320.seer_ft_in1k", {"pt_web", "pt_selfsup"}),
    ("regnety_160.swag_lc_in1k", {"pt_web"}),
    ("regnety_160.lion_in12k_ft_in1k", {"pt_in12k"}),  # lion: an optimizer, not a data set
    ("darknet53.c2ns_in1k", {"pt_in1k"}),  # c2ns is one token: no Noisy Student
    ("deit_base_distilled_patch16_224.fb_in1k", {"pt_in1k", "pt_distilled"}),
    ("levit_128.fb_dist_in1k", {"pt_in1k", "pt_distilled"}),
    ("tiny_vit_21m_224.dist_in22k_ft_in1k", {"pt_in22k", "pt_distilled"}),
    ("nextvit_small.bd_ssld_6m_in1k", {"pt_distilled"}),  # extra data of unnamed source
    ("inception_v3.tf_adv_in1k", {"pt_in1k", "pt_adversarial"}),
    ("tf_efficientnet_b7.ap_in1k", {"pt_in1k", "pt_adversarial"}),
])
def test_tag_parser_on_real_names(name, expected):
    flags = _script().parse_tag(name)
    assert {k for k, v in flags.items() if v} == expected


def test_metadata_label_adds_to_the_tag():
    parse_tag = _script().parse_tag
    assert parse_tag("beit_base_patch16_224.in22k_ft_in22k_in1k", "in21k-selfsl") == parse_tag(
        "beit_base_patch16_224.in22k_ft_in22k_in1k")
    flags = parse_tag("cait_s24_224.fb_in1k", "in1k-dist")
    assert flags["pt_distilled"] == 1 and flags["pt_in1k"] == 1
    flags = parse_tag("resnext101_32x8d.fb_in1k", "ig1b-wsl")
    assert flags["pt_web"] == 1 and flags["pt_in1k"] == 0


def test_every_listed_resolution_is_a_model(models, failures):
    ids = [c.id for c in models]
    variants = [c for c in models if "@" in c.id]
    assert len(ids) == 1556 and len(variants) == 290
    for c in variants:
        base, size = c.id.split("@")
        assert base in ids and int(c.meta["img_size"]) == int(size)
        assert c.architecture == f"timm:{base.partition('.')[0]}"
    assert not failures.get("architecture")  # NFNets (computed conv weights) capture too
