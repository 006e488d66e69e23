"""The fitted zoo builds its model feature matrix once per record, read-only, and a changed
record (``with_changes``, ``add_models``) starts afresh."""

from __future__ import annotations

import numpy as np
import pytest

from fennec_core import Fennec
from fennec_core.records import ModelCard
from fennec_core.scoring.meta_score import feature_matrix


@pytest.fixture
def engine(small_history):
    cards = [ModelCard(m, None, {"size": float(i), **({"depth": 2.0 * i} if i % 3 else {})})
             for i, m in enumerate(small_history.model_ids)]
    return Fennec(device="cpu", seed=0).fit(small_history, cards)


def test_model_features_are_built_once_and_read_only(engine):
    zoo = engine.zoo_
    X = zoo.model_features()
    assert zoo.model_features() is X and not X.flags.writeable
    names = zoo.model_feature_names()
    assert names == ["depth", "size"]
    np.testing.assert_array_equal(X, feature_matrix([zoo.models[m].meta for m in zoo.model_ids], names))
    some = [zoo.model_ids[5], zoo.model_ids[1]]
    np.testing.assert_array_equal(zoo.model_features(["size"], some), [[5.0], [1.0]])
    np.testing.assert_array_equal(zoo.model_features(["size"]), X[:, [1]])
    names.append("mutated")  # a caller's list, not the cache
    assert zoo.model_feature_names() == ["depth", "size"]


def test_a_changed_record_rebuilds_its_features(engine):
    zoo = engine.zoo_
    before = zoo.model_features()
    models = {**zoo.models, zoo.model_ids[0]: ModelCard(zoo.model_ids[0], None, {"size": 99.0, "width": 1.0})}
    changed = zoo.with_changes(models=models)
    assert changed.model_feature_names() == ["depth", "size", "width"]
    assert changed.model_features()[0, 1] == 99.0 and before[0, 1] == 0.0
    assert zoo.model_features() is before


def test_a_loaded_zoo_makes_its_cards_on_demand_and_equal(engine, tmp_path):
    from fennec_core.zoo import StoredModelCards

    engine.save(tmp_path / "zoo")
    again = Fennec.load(tmp_path / "zoo", device="cpu")
    zoo, loaded = engine.zoo_, again.zoo_
    assert isinstance(loaded.models, StoredModelCards)
    assert loaded.model_feature_names() == zoo.model_feature_names()
    np.testing.assert_array_equal(loaded.model_features(), zoo.model_features())
    some = [zoo.model_ids[7], zoo.model_ids[2]]
    np.testing.assert_array_equal(loaded.model_features(["size", "nope"], some), zoo.model_features(["size", "nope"], some))
    assert len(loaded.models) == len(zoo.models) and list(loaded.models) == list(zoo.models)
    assert loaded.models[zoo.model_ids[3]] is loaded.models[zoo.model_ids[3]]  # made once
    assert dict(loaded.models) == dict(zoo.models)
    assert "m99" not in loaded.models
    with pytest.raises(KeyError):
        loaded.models["m99"]
    np.testing.assert_array_equal(again.rank(top=5).scores, engine.rank(top=5).scores)
