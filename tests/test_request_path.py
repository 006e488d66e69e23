"""One request path: the CLI, the Python API and the server place a task through
``fennec_core.task.request.place``, and an engine builds its text encoder once."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import require

from fennec_core.errors import InputError

TEXT = "photos of people holding yoga poses"
OTHER = "satellite images of farmland"


@pytest.fixture
def built(monkeypatch):
    """Counts the text proxies constructed (through any registry)."""
    require("onnxruntime")
    from fennec_plugins.task_proxies.text import TextProxy

    made: list[object] = []
    original = TextProxy.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(TextProxy, "__init__", counting)
    return made


@pytest.fixture
def placed(monkeypatch):
    """Records every request ``place`` receives."""
    from fennec_core.task import request as request_module

    seen = []
    original = request_module.place

    def spy(engine, request):
        seen.append(request)
        return original(engine, request)

    monkeypatch.setattr(request_module, "place", spy)
    return seen


def _server(tmp_path):
    require("fastapi")
    from fastapi.testclient import TestClient

    from fennec_core.serve.app import create_app
    from fennec_core.serve.settings import resolve_settings

    settings = resolve_settings(zoos=["pytorchcv105"], data_dir=str(tmp_path), preload_text=False)
    return TestClient(create_app(settings), raise_server_exceptions=False, base_url="http://localhost")


def test_rank_describe_builds_the_text_encoder_once(cli, built, placed):
    code, out, err = cli("rank", "--zoo", "pytorchcv105", "--describe", TEXT, "--top", "3", "--json")
    assert code == 0, err
    assert len(built) == 1 and len(placed) == 1 and placed[0].description == TEXT
    assert json.loads(out)["info"]["task_vector_source"]


def test_two_described_posts_build_the_text_encoder_once(tmp_path, built, placed):
    api = _server(tmp_path)
    first = api.post("/rank", json={"description": TEXT, "top": 3})
    second = api.post("/rank", json={"description": OTHER, "top": 3})
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert len(built) == 1
    assert [r.description for r in placed if r.description] == [TEXT, OTHER]  # the server placed none itself


def test_cli_api_and_server_answer_alike_through_one_path(cli, tmp_path, built, placed):
    from fennec_core import Fennec
    from fennec_core.io.catalog import resolve

    engine = Fennec.load(resolve("pytorchcv105"), device="cpu")
    api_doc = engine.rank("new", description=TEXT, known={"resnet18": 0.8}, top=5).to_dict()
    (tmp_path / "known.csv").write_text("model,score\nresnet18,0.8\n")
    code, out, err = cli("rank", "--zoo", "pytorchcv105", "--task", "new", "--new-task", "--describe", TEXT,
                         "--known", tmp_path / "known.csv", "--top", "5", "--json")
    assert code == 0, err
    served = _server(tmp_path).post("/rank", json={"task": "new", "description": TEXT, "known": {"resnet18": 0.8},
                                                   "top": 5}).json()
    cli_doc = json.loads(out)
    for doc in (cli_doc, served):
        assert [m["model"] for m in doc["models"]] == [m["model"] for m in api_doc["models"]]
        assert [m["score"] for m in doc["models"]] == pytest.approx([m["score"] for m in api_doc["models"]], abs=1e-12)
        assert sorted(doc["info"]["notes"]) == sorted(api_doc["info"]["notes"])
    asked = [r for r in placed if r.description]  # (a server warms its zoo up with a cold ranking)
    assert len(asked) == 3 and all(r.description == TEXT and dict(r.known) == {"resnet18": 0.8} for r in asked)
    assert len(built) == 3  # one engine each: the API's, the CLI's and the server's


def test_a_request_is_one_record_and_refuses_a_second_source(small_history):
    from fennec_core import Fennec
    from fennec_core.records import TaskCard
    from fennec_core.task.request import TaskRequest, place

    eng = Fennec(device="cpu").fit(small_history)
    v = eng.zoo_.factors.V[0]
    req = TaskRequest("new", num_classes=10, card={"type": "Retrieval"}, known={small_history.model_ids[0]: 0.5},
                      task_vector=v)
    got = place(eng, req)
    assert got.card.id == "new" and got.card.num_classes == 10 and got.card.attributes == {"type": "Retrieval"}
    np.testing.assert_array_equal(got.task_vector, v)
    by_keywords = eng.rank(TaskCard("new", 10), task_vector=v, known=req.known, card={"type": "Retrieval"})
    assert eng.rank(req).to_dict() == by_keywords.to_dict()
    with pytest.raises(InputError, match="TaskRequest"):
        eng.rank(req, known={small_history.model_ids[1]: 0.2})
    with pytest.raises(InputError, match="give one of"):
        place(eng, TaskRequest(task_vector=v, description="words"))
    with pytest.raises(InputError, match="words describing"):
        place(eng, TaskRequest(description="  "))
