"""A saved zoo loads back as the same FittedZoo, field by field, and loading fits nothing."""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fennec_core import Fennec
from fennec_core.records import History, ModelCard, TaskCard
from fennec_core.zoo import FittedZoo


def _same(a, b, path):
    """Deep equality of record contents: arrays (NaN == NaN), mappings (a loaded zoo's model cards
    are a read-only mapping that makes each card when asked), attrs records, scalars."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=path)
    elif isinstance(a, Mapping):
        assert isinstance(b, Mapping) and set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, History):
        assert isinstance(b, History), path
        for name in ("model_ids", "task_ids", "rows", "cols", "values"):
            _same(getattr(a, name), getattr(b, name), f"{path}.{name}")
    elif attrs.has(type(a)):
        assert type(a) is type(b), path
        for f in attrs.fields(type(a)):
            if f.init:
                _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@st.composite
def zoos(draw):
    """A small random history with optional model features, task cards, embeddings and new models."""
    m, n = draw(st.integers(6, 10)), draw(st.integers(3, 6))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    scores = rng.random((m, 2)) @ rng.random((2, n)) + 0.05 * rng.random((m, n))
    mask = rng.random((m, n)) > draw(st.sampled_from([0.0, 0.15]))
    mask[:, 0] = True
    mask[0, :] = True
    h = History([f"m{i}" for i in range(m)], [f"t{j}" for j in range(n)], scores, mask)
    n_feats = draw(st.integers(0, 2))
    cards = [ModelCard(f"m{i}", draw(st.sampled_from([None, "timm:resnet18"])),
                       {f"f{k}": float(rng.normal()) for k in range(n_feats) if rng.random() > 0.1})
             for i in range(m)]
    tasks = [TaskCard(f"t{j}", draw(st.sampled_from([None, 2, 10])), None,
                      draw(st.sampled_from([None, "photos of birds", "é ünïcode"]))) for j in range(n)]
    tasks.append(TaskCard("described-only", 5, 100, "a task with no scores yet"))
    emb = {f"t{j}": rng.normal(size=(3, 4)).astype(np.float32) for j in range(n)} if draw(st.booleans()) else None
    config = {
        "factorizer": draw(st.sampled_from(["pmf", "nmf"])),
        "score_merger": draw(st.sampled_from(["weighted", "learned", "rank-fusion"])),
        "factorizer_config": {"k": draw(st.sampled_from([1, 2]))},  # k="auto": test_engine
        "seed": seed % 7,
    }
    return h, cards, tasks, emb, config, n_feats > 0 and draw(st.booleans())


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zoos())
def test_round_trip_restores_every_field_and_fits_nothing(tmp_path_factory, monkeypatch, case):
    h, cards, tasks, emb, config, add_model = case
    eng = Fennec(device="cpu", **config).fit(h, cards, tasks, task_embeddings=emb)
    if add_model and eng.zoo_.meta_model is not None:
        eng.add_models([ModelCard("new", None, dict.fromkeys(eng.zoo_.model_feature_names(), 0.5))])
    path = tmp_path_factory.mktemp("zoo") / "zoo.zarr"
    eng.save(path)
    assert eng.zoo_.warm_strength is not None  # resolved at save, stored with the zoo

    def no_fitting(*_args, **_kwargs):
        raise AssertionError("loading a zoo must not fit anything")

    from fennec_plugins.factorizers.nmf import MaskedNMF
    from fennec_plugins.factorizers.pmf import VariationalPMF
    from fennec_plugins.mergers.merges import LearnedMerger

    import fennec_core.history.fitting as fitting
    import fennec_core.task.vector as vector
    from fennec_core.scoring.meta_score import MetaModel

    with monkeypatch.context() as mp:
        for owner, name in ((fitting, "fit_zoo"), (vector, "choose_warm_strength"), (MaskedNMF, "fit"),
                            (VariationalPMF, "fit"), (LearnedMerger, "fit")):
            mp.setattr(owner, name, no_fitting)
        mp.setattr(MetaModel, "fit", classmethod(no_fitting))
        back = Fennec.load(path, device="cpu")
        ranking = back.rank()
    _same(eng.zoo_, back.zoo_, "zoo")
    assert isinstance(back.zoo_, FittedZoo)
    skip = ("registry", "factorizer_config", "normalization")  # stored resolved: k chosen, normalization used
    assert {k: v for k, v in back.get_params().items() if k not in skip} == \
        {k: v for k, v in eng.get_params().items() if k not in skip}
    assert back.resolved_normalization == eng.resolved_normalization
    assert ranking.model_ids == eng.rank().model_ids
    np.testing.assert_allclose(ranking.scores, eng.rank().scores, rtol=1e-12)


def test_learned_merger_state_is_stored_not_refit(tmp_path, small_history):
    cards = [ModelCard(m, None, {"size": float(i)}) for i, m in enumerate(small_history.model_ids)]
    eng = Fennec(score_merger="learned", device="cpu").fit(small_history, cards)
    eng.save(tmp_path / "zoo")
    back = Fennec.load(tmp_path / "zoo")
    assert back.zoo_.merger_state.attributes == {"w": eng.components.merger.w, "scores": eng.components.merger.scores}
    assert back.components.merger.w == eng.components.merger.w


@pytest.mark.parametrize("missing", ["components", "settings", "model_ids"])
def test_an_incomplete_manifest_is_one_store_error(tmp_path, small_history, missing):
    import json

    from fennec_core.errors import StoreError
    from fennec_core.io.store import read_store, write_store

    Fennec(device="cpu").fit(small_history).save(tmp_path / "zoo")
    arrays, manifest = read_store(tmp_path / "zoo")
    manifest = {k: v for k, v in json.loads(json.dumps(manifest)).items()
                if k not in (missing, "format", "schema_version", "arrays")}
    write_store(tmp_path / "zoo", arrays, manifest)
    with pytest.raises(StoreError, match="incomplete|inconsistent"):
        Fennec.load(tmp_path / "zoo")


@pytest.mark.parametrize("name", ["mteb", "pytorchcv105"])
def test_a_loaded_zoos_lazy_cards_encode_as_the_cards_they_stand_for(name):
    """Saving a loaded zoo writes its model cards' columns straight from the stored columns
    (an update of a 50,000-model zoo made every card to take it apart again): same document."""
    import json

    from fennec_core import Fennec
    from fennec_core.io import catalog
    from fennec_core.io.zoo_codec import encode
    from fennec_core.zoo import StoredModelCards

    engine = Fennec.load(catalog.get(name).path, device="cpu")
    zoo = engine.zoo_
    assert isinstance(zoo.models, StoredModelCards)
    lazy = encode(zoo, engine.get_params())[1]["models"]
    assert not zoo.models._made  # no card was made
    made = encode(zoo.with_changes(models=dict(zoo.models)), engine.get_params())[1]["models"]
    assert json.dumps(lazy, sort_keys=True) == json.dumps(made, sort_keys=True)
    assert name != "mteb" or lazy["attributes"]
