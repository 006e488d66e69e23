"""History CSV parsing: every bad input gets an error naming the row; round trips (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fennec_core.errors import InputError
from fennec_core.io.tables import (
    convert_table,
    parse_history,
    read_history,
    read_known,
    read_models,
    write_history,
)
from fennec_core.records import History


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("model,task\na,b\n", "missing column.*score"),
        ("model,task,score\n", "header but no rows"),
        ("model,task,score\na,t,0.5\na,t,0.6\n", "line 3: duplicate row for model 'a', task 't' \\(first at line 2\\)"),
        ("model,task,score\na,t,nan\n", "line 2: score is nan"),
        ("model,task,score\na,t,inf\n", "line 2: score is inf"),
        ("model,task,score\na,t,-Infinity\n", "line 2: score is -Infinity"),
        ("model,task,score\na,t,\n", "line 2: score is empty"),
        ("model,task,score\na,t,high\n", "line 2: score 'high' is not a number"),
        ("model,task,score\n,t,0.1\n", "line 2: empty model id"),
        ("model,task,score\na,,0.1\n", "line 2: empty task id"),
        ("model,task,score\na,t,0.1,extra\n", "line 2 has more fields"),
        ("model,model,task,score\na,a,t,0.1\n", "duplicate column"),
    ],
)
def test_bad_history_text(text, message):
    with pytest.raises(InputError, match=message):
        parse_history(text, "h.csv")


def test_extra_columns_ignored_and_bom_accepted(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("\ufeffmodel,task,score,note\na,t1,0.5,x\nb,t1,0.7,y\na,t2,0.1,\n", encoding="utf-8")
    h = read_history(p)
    assert h.model_ids == ("a", "b") and h.task_ids == ("t1", "t2")
    assert not h.mask[1, 1] and math.isnan(h.scores[1, 1])


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_history(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a folder"):
        read_history(tmp_path)


def test_binary_file(tmp_path):
    p = tmp_path / "h.csv"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not UTF-8"):
        read_history(p)


def test_models_and_known_tables(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("model,architecture,params\na,timm:resnet50,25.5\nb,,3\n")
    cards = read_models(p)
    assert cards[0].architecture == "timm:resnet50" and cards[1].architecture is None
    assert cards[1].meta == {"params": 3.0}
    p.write_text("model,params\na,nan\n")
    with pytest.raises(InputError, match="line 2: column 'params' is nan"):
        read_models(p)
    k = tmp_path / "k.csv"
    k.write_text("model,score\na,0.9\na,0.8\n")
    with pytest.raises(InputError, match="line 3: model 'a' listed twice"):
        read_known(k)


def test_convert_wide_and_multi_column(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("model,A,B\nx,1,2\ny,3,\n")
    h = convert_table(p, wide=True)
    assert h.shape == (2, 2) and h.mask.sum() == 3
    p.write_text("arch,src,tgt,acc\nr,a,T,1\nr,b,T,2\n")
    h = convert_table(p, model=["arch", "src"], task="tgt", score="acc")
    assert h.model_ids == ("r/a", "r/b")
    with pytest.raises(InputError, match="missing column"):
        convert_table(p, model=["nope"], task="tgt", score="acc")


ids = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    cells=st.dictionaries(
        st.tuples(ids, ids),
        st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e12, max_value=1e12),
        min_size=1,
        max_size=25,
    )
)
def test_history_csv_round_trip(tmp_path_factory, cells):
    cells = {(m.strip(), t.strip()): s for (m, t), s in cells.items() if m.strip() and t.strip()}
    if not cells:
        return
    h = History.from_long([(m, t, s) for (m, t), s in cells.items()])
    path = tmp_path_factory.mktemp("rt") / "h.csv"
    write_history(h, path)
    back = read_history(path)
    assert back.model_ids == h.model_ids  # written model-major: model order is kept
    assert sorted(back.task_ids) == sorted(h.task_ids)
    cols = [back.task_ids.index(t) for t in h.task_ids]
    np.testing.assert_array_equal(back.mask[:, cols], h.mask)
    np.testing.assert_array_equal(back.scores[:, cols][h.mask], h.scores[h.mask])


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=200))
def test_parser_never_crashes_unexpectedly(text):
    """Arbitrary text either parses or raises InputError: never another exception."""
    try:
        h = parse_history(text, "fuzz.csv")
    except InputError:
        return
    assert np.all(np.isfinite(h.scores[h.mask]))


def test_card_tables_keep_text_columns_as_attributes(tmp_path):
    """A models or tasks column holding text (a license, a task type) becomes a categorical
    attribute; numeric columns stay meta features; both survive a store round trip."""
    from fennec_core.engine import Fennec
    from fennec_core.io.tables import read_models, read_tasks
    from fennec_core.records import History, attribute_values

    (tmp_path / "m.csv").write_text("model,params,license\na,1e6,mit\nb,2e6,\nc,3e6,apache-2.0\n")
    (tmp_path / "t.csv").write_text("task,num_classes,type,languages\nt0,2,Retrieval,\"deu,eng\"\nt1,3,STS,eng\n")
    models, tasks = read_models(tmp_path / "m.csv"), read_tasks(tmp_path / "t.csv")
    assert models[0].meta == {"params": 1e6} and models[0].attributes == {"license": "mit"}
    assert models[1].attributes == {}
    assert tasks[0].attributes == {"type": "Retrieval", "languages": "deu,eng"}
    assert attribute_values(tasks[0].attributes["languages"]) == {"deu", "eng"}
    rng = np.random.default_rng(0)
    hist = History(["a", "b", "c"], ["t0", "t1"], rng.random((3, 2)), np.ones((3, 2), bool))
    engine = Fennec(factorizer_config={"k": 1}).fit(hist, models, tasks)
    engine.save(tmp_path / "zoo.zarr")
    loaded = Fennec.load(tmp_path / "zoo.zarr").zoo_
    assert loaded.models["c"].attributes == {"license": "apache-2.0"} and loaded.models["b"].attributes == {}
    assert loaded.tasks["t0"].attributes == {"type": "Retrieval", "languages": "deu,eng"}
