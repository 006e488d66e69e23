"""What the server sends matches the response schema it declares (its OpenAPI document), field
for field: nothing missing, nothing undeclared; and GET /zoos/{zoo} says what `fennec zoo info`
says about the same zoo."""

from __future__ import annotations

import json
import typing

import pytest
from conftest import require
from test_serve import TOKEN, client, column, make_zoo


def conforms(model, doc, where: str = "response") -> None:
    """``doc`` validates against the pydantic ``model`` and holds no field ``model`` does not
    declare (unless it allows extra fields), recursively through nested models and lists."""
    from pydantic import BaseModel

    model.model_validate(doc)
    if model.model_config.get("extra") != "allow":
        undeclared = set(doc) - set(model.model_fields)
        assert not undeclared, f"{where}: sends {sorted(undeclared)} that {model.__name__} does not declare"
    for name, field in model.model_fields.items():
        value, kind = doc.get(name), field.annotation
        inner = [a for a in typing.get_args(kind) if isinstance(a, type) and issubclass(a, BaseModel)]
        if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(value, dict):
            conforms(kind, value, f"{where}.{name}")
        elif inner and isinstance(value, list):
            for i, item in enumerate(value):
                conforms(inner[0], item, f"{where}.{name}[{i}]")


@pytest.fixture
def served(tmp_path, monkeypatch):
    require("fastapi")
    path = make_zoo(tmp_path / "small.zarr")
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    return path, client([str(path)], tmp_path / "data", token_file=str(token))


def test_every_answer_matches_its_declared_schema(served):
    from fennec_core.serve import schemas

    path, api = served
    declared = {(route.path, next(iter(route.methods))): route.response_model
                for route in api.app.routes if getattr(route, "response_model", None) is not None}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    calls = {
        ("/health", "GET"): lambda: api.get("/health"),
        ("/zoos", "GET"): lambda: api.get("/zoos"),
        ("/zoos/{zoo}", "GET"): lambda: api.get("/zoos/small?limit=3&offset=1"),
        ("/rank", "POST"): lambda: api.post("/rank", json={"known": {"m00": 0.6}, "top": 4}),
        ("/next", "POST"): lambda: api.post("/next", json={"known": {"m00": 0.6}, "batch": 2}),
        ("/zoos/{zoo}/results", "POST"): lambda: api.post("/zoos/small/results",
                                                          json={"results": column(path, "t0")}, headers=auth),
    }
    assert set(declared) == set(calls), "a route with a response schema is not checked here"
    for key, call in calls.items():
        res = call()
        assert res.status_code == 200, (key, res.text)
        conforms(declared[key], res.json(), f"{key[1]} {key[0]}")
    assert declared[("/zoos/{zoo}", "GET")] is schemas.ZooDetail


def test_the_zoo_document_is_the_one_zoo_info_prints(served, cli):
    path, api = served
    code, out, err = cli("zoo", "info", "--zoo", path, "--json", "--models")
    assert code == 0, err
    info = json.loads(out)
    detail = api.get("/zoos/small?limit=1000").json()
    for key in ("models", "tasks", "observed", "models_without_history", "factorizer", "k", "normalization",
                "score_merger", "ranker", "model_features", "task_proxy", "tasks_with_embeddings", "describable",
                "described_tasks"):
        assert detail[key] == info[key], key
    assert detail["k"] == 2  # the latent size (Factors.info["k"]), not pmf's k + 2 columns
    assert detail["task_table"]["items"] == info["task_table"]
    assert detail["model_table"]["items"] == info["model_table"]
