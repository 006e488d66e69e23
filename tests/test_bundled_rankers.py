"""A zoo holds several trained rankers and `rank --ranker NAME` picks one without refitting
(issue 13, item 7): the bundled zoo ships a trained Model Spider beside the pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import proxy_zoo, require

from fennec_core import Fennec
from fennec_core.errors import InputError
from fennec_core.io.bundled import bundled_zoo_path
from fennec_core.io.tables import write_history

FAST = {"epochs": 20, "patience": 5, "dim": 16}


def test_the_bundled_zoo_ranks_with_either_ranker(cli):
    require("torch")
    code, out, err = cli("rank", "--ranker", "model-spider", "--task", "flower", "--top", "5", "--json", "-q")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["info"]["ranker"] == "model-spider" and len(doc["models"]) == 5
    code, out, err = cli("rank", "--ranker", "fennec", "--task", "flower", "--top", "5", "--json", "-q")
    assert code == 0, err
    assert "ranker" not in json.loads(out)["info"] and json.loads(out)["info"]["task_vector_source"] == "zoo task"
    spider = Fennec.load(bundled_zoo_path(), device="cpu", ranker="model-spider")
    assert spider.ranker == "model-spider" and spider.zoo_.rankers["model-spider"].state.arrays
    assert Fennec.load(bundled_zoo_path(), device="cpu").ranker == "fennec"  # the default is unchanged


def test_the_bundled_model_spider_ranks_a_description(cli):
    require("onnxruntime")
    code, out, err = cli("rank", "--ranker", "model-spider", "--describe", "close-up photos of flowers", "--json",
                         "-q")
    assert code == 0, err
    assert err == ""
    assert json.loads(out)["info"]["ranker"] == "model-spider"


def test_a_ranker_the_zoo_does_not_hold_is_one_actionable_line(cli, tmp_path, small_history):
    write_history(small_history, tmp_path / "h.csv")
    assert cli("fit", "--history", tmp_path / "h.csv", "--out", tmp_path / "zoo", "-q")[0] == 0
    code, out, err = cli("rank", "--zoo", tmp_path / "zoo", "--ranker", "model-spider")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "holds no trained 'model-spider' ranker (it has: fennec)" in err and "--ranker model-spider" in err
    code, _, err = cli("rank", "--zoo", tmp_path / "zoo", "--ranker", "no-such")
    assert code == 2 and "unknown ranker 'no-such'" in err
    with pytest.raises(InputError, match="holds no trained"):
        Fennec.load(tmp_path / "zoo", ranker="model-spider")


@pytest.mark.slow
def test_a_second_ranker_is_stored_beside_the_first_and_reloads_identically(tmp_path):
    require("torch")
    h, emb, cards = proxy_zoo(10, 12, 0, items=8)
    eng = Fennec(device="cpu").fit(h, cards, task_embeddings=emb).add_ranker("model-spider", FAST)
    before = eng.rank("t1")
    eng.save(tmp_path / "zoo")
    pipeline = Fennec.load(tmp_path / "zoo", device="cpu")
    assert pipeline.ranker == "fennec" and list(pipeline.zoo_.rankers) == ["model-spider"]
    assert pipeline.rank("t1").model_ids == before.model_ids  # adding a ranker changes nothing else
    spider = Fennec.load(tmp_path / "zoo", device="cpu", ranker="model-spider")
    assert spider.ranker_config == FAST
    trained = Fennec(device="cpu", ranker="model-spider", ranker_config=FAST)
    state = eng.zoo_.rankers["model-spider"].state
    trained.components.ranker.load_state(state.arrays, state.attributes)
    new = emb["t2"][:3] + 0.1
    np.testing.assert_allclose(spider.rank(task_embeddings=new).scores,
                               np.sort(trained.components.ranker.scores(eng.zoo_, new))[::-1], rtol=1e-6)
    spider.save(tmp_path / "zoo2")  # saved with model-spider active: the pipeline is still there
    back = Fennec.load(tmp_path / "zoo2", device="cpu", ranker="fennec")
    assert back.ranker == "fennec" and back.rank("t1").model_ids == before.model_ids
    assert Fennec.load(tmp_path / "zoo2", device="cpu").ranker == "model-spider"


def test_images_on_a_zoo_embedded_from_words_say_to_describe(tmp_path):
    (tmp_path / "imgs").mkdir()
    with pytest.raises(InputError, match="embedded from words by the 'text' proxy"):
        Fennec.load(bundled_zoo_path(), device="cpu").rank(images=tmp_path / "imgs")
