"""Fuzzing the CLI: random, often malformed, CSV files and random argument combinations for
``fit``, ``rank``, ``evaluate`` and ``convert``. Whatever the input, the command either works
(exit 0) or refuses it in one line (exit 2): never an internal error or a traceback.

Runs in-process through :func:`fennec_core.cli.main` (subprocesses would be too slow for many
examples); ``tests/test_bad_inputs.py`` covers the real entry point.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fennec_core.cli import main

# -- CSV contents ------------------------------------------------------------------------------

IDS = st.sampled_from(["m0", "m1", "m2", "m3", "m4", "t0", "t1", "t2", "t3", "", " ", "a,b", 'q"uote', "é", "0",
                       "py:os:system", "timm:resnet18"])
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=0, max_value=1).map(lambda x: f"{x:.3f}"),
    st.sampled_from(["", " ", "abc", "1e308", "-1e308", "1e150", "nan", "inf", "-inf", "0", "-0", "1,5", "0x10",
                     "1_000", "True", "NaN", "1e-320"]),
    st.integers(-10**20, 10**20).map(str),
)
CELLS = st.one_of(IDS, NUMBERS)
HEADERS = {
    "history": ["model,task,score", "model,task,score,extra", "task,model,score", "model,task", "a,b,c",
                "model,model,score", "", "model;task;score", " model , task , score "],
    "known": ["model,score", "score,model", "model", "model,score,score", ""],
    "models": ["model", "model,params", "model,architecture,depth", "architecture", "model,model"],
}


def _quote(cell: str) -> str:
    return f'"{cell}"' if ("," in cell or '"' in cell) and not cell.startswith('"') else cell


@st.composite
def csv_text(draw, kind: str, chaos: bool) -> str:
    """CSV-shaped text: a well-formed table (``chaos`` False; a history may still get a bad cell),
    or a random header with random rows (wrong widths, bad cells, duplicates), or any text."""
    if chaos and draw(st.integers(0, 4)) == 0:
        return draw(st.text(max_size=120))
    if not chaos:
        header = {"history": "model,task,score", "known": "model,score", "models": "model,params"}[kind]
        m, n = draw(st.integers(2, 5)), draw(st.integers(2, 4))
        if kind == "history":
            rows = [[f"m{i}", f"t{j}", f"{0.5 + 0.1 * ((3 * i + j) % 5):.2f}"] for i in range(m) for j in range(n)
                    if (i + j) % 7 or i == 0]  # a few missing cells
            if draw(st.integers(0, 3)) == 0:
                rows[draw(st.integers(0, len(rows) - 1))][draw(st.integers(0, 2))] = draw(CELLS)
        elif kind == "known":
            rows = [[f"m{i}", draw(NUMBERS if draw(st.integers(0, 3)) == 0 else st.just(f"{0.5 + 0.05 * i:.2f}"))]
                    for i in range(draw(st.integers(1, 3)))]
        else:
            rows = [[f"m{i}", str(10 * i + 1)] for i in range(m)]
    else:
        header = draw(st.sampled_from(HEADERS[kind]))
        width = max(1, header.count(",") + 1)
        rows = [[draw(CELLS) for _ in range(draw(st.sampled_from([width, width, width - 1, width + 1])))]
                for _ in range(draw(st.integers(0, 6)))]
    lines = [header] + [",".join(_quote(c) for c in row) for row in rows]
    if chaos and draw(st.booleans()) and len(lines) > 1:  # duplicate a row
        lines.append(lines[1])
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n", "\r\n"]))


# -- arguments ----------------------------------------------------------------------------------

GOOD_COUNTS, BAD_COUNTS = ["1", "2", "3", "10"], ["0", "-1", "2.5", "abc", "100000"]
GOOD_CONFIGS = ["factorizer.k=1", "factorizer.k=2", "factorizer.max_iter=50", "score_merger.w=0.7", "seed=2",
                "use_meta=false", "normalization=zscore", "normalization=minmax", "warm_strength=3",
                "task_mapping=knn", "factorizer.k=auto"]
BAD_CONFIGS = ["factorizer.k=abc", "factorizer.k=100000", "factorizer.k=0", "factorizer.k=-1",
               "factorizer.max_iter=-5", "factorizer.tol=nan", "factorizer.nope=1", "score_merger.w=abc",
               "score_merger.w=2", "seed=abc", "seed=-1", "use_meta=maybe", "normalization=none",
               "normalization=bogus", "warm_strength=nan", "warm_strength=-1", "task_mapping=bogus", "bogus=1",
               "factorizer", "nope.k=1", "factorizer.k=[1, 2]"]


def _pick(draw, chaos: bool, good: list[str], bad: list[str]) -> str:
    return draw(st.sampled_from(good + bad if chaos else good))


def _options(draw, chaos: bool, pairs) -> list[str]:
    """Each optional ``(flag, good values, bad values)`` maybe present; no values: a switch."""
    out: list[str] = []
    for flag, good, bad in pairs:
        if draw(st.integers(0, 2)) == 0:
            out += [flag] if not good else [flag, _pick(draw, chaos, good, bad)]
    return out


def _components(draw, chaos: bool) -> list[str]:
    args = _options(draw, chaos, [("--factorizer", ["pmf", "nmf"], ["nope"]),
                                  ("--score-merger", ["weighted", "rank-fusion", "learned"], ["nope"]),
                                  ("--device", ["cpu"], ["tpu:7", "cuda:x", "gpu"])])
    for _ in range(draw(st.integers(0, 2))):
        args += ["--config", _pick(draw, chaos, GOOD_CONFIGS, BAD_CONFIGS)]
    return args


@st.composite
def command(draw):
    """(argv with placeholders H, K, M, OUT, ZOO, DIR for files, the files' contents). About half
    the examples are chaotic; the others are well-formed, so the commands do their real work."""
    chaos = draw(st.booleans())
    name = draw(st.sampled_from(["fit", "rank", "evaluate", "convert"]))
    files = {k: draw(csv_text(kind, chaos)) for k, kind in (("H", "history"), ("K", "known"), ("M", "models"))}
    bad_outs = ["DIR", "H", "H/sub", "DIR/deep/er"]
    if name == "fit":
        argv = ["fit", "--history", _pick(draw, chaos, ["H"], ["DIR", "MISSING"]),
                "--out", _pick(draw, chaos, ["OUT"], bad_outs)]
        argv += _components(draw, chaos) + _options(draw, chaos, [("--models", ["M"], [])])
    elif name == "rank":
        argv = ["rank", "--zoo", _pick(draw, chaos, ["ZOO"], ["H", "DIR", "MISSING"])]
        argv += _options(draw, chaos, [("--known", ["K"], ["H", "DIR"]), ("--top", GOOD_COUNTS, BAD_COUNTS),
                                       ("--num-classes", GOOD_COUNTS, BAD_COUNTS),
                                       ("--train-size", GOOD_COUNTS, BAD_COUNTS),
                                       ("--task", ["t0", "t1", "new"], [""]), ("--explore", [], []),
                                       ("--json", [], []), ("--device", ["cpu"], ["tpu:7", "gpu"])])
    elif name == "evaluate":
        argv = ["evaluate", "--history", _pick(draw, chaos, ["H"], ["DIR"]),
                "--protocol", _pick(draw, chaos, ["loo", "loo-warm:1", "loo-model"],
                                    ["loo-warm:0", "loo-warm:1000", "loo-warm:x", "bogus"])]
        argv += _components(draw, chaos) + _options(draw, chaos, [
            ("--repeats", ["1", "2"], ["0", "x"]), ("--models", ["M"], []),
            ("--predictions", ["OUT"], bad_outs), ("--json", [], [])])
    else:
        argv = ["convert", _pick(draw, chaos, ["H"], ["M", "DIR", "MISSING"]),
                "--out", _pick(draw, chaos, ["OUT"], bad_outs)]
        if draw(st.booleans()):
            argv += ["--wide"] + _options(draw, chaos, [("--model", ["model"], ["m0", "nope"])])
        else:
            for _ in range(draw(st.integers(0 if chaos else 1, 2))):
                argv += ["--model", _pick(draw, chaos, ["model"], ["a", "task", "nope"])]
            argv += _options(draw, chaos, [("--task", ["task"], ["b", "nope"]), ("--score", ["score"], ["c", "nope"]),
                                           ("--sep", ["/"], ["", ","])])
            if not chaos:
                argv += [a for a in ("--task", "task", "--score", "score") if a not in argv]
    return argv + ["-q"] * draw(st.integers(0, 1)), files


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A small fitted zoo for ``rank`` (m0..m4 x t0..t3)."""
    from fennec_core import Fennec
    from fennec_core.records import History

    path = tmp_path_factory.mktemp("fuzz") / "zoo"
    scores = [[0.5 + 0.1 * ((3 * i + j) % 5) for j in range(4)] for i in range(5)]
    mask = [[True] * 4 for _ in range(5)]
    Fennec(device="cpu").fit(History([f"m{i}" for i in range(5)], [f"t{j}" for j in range(4)], scores, mask)) \
        .save(path)
    return path


@pytest.mark.slow
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=command(), raw_bytes=st.booleans())
def test_cli_never_crashes(zoo, capsys, case, raw_bytes):
    argv, contents = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "dir").mkdir()
        paths = {"ZOO": str(zoo), "OUT": str(root / "out"), "DIR": str(root / "dir"),
                 "MISSING": str(root / "missing.csv")}
        for key, text in contents.items():
            path = root / f"{key.lower()}.csv"
            data = text.encode("utf-8", "surrogatepass")
            path.write_bytes(data + (b"\xff\xfe" if raw_bytes and key == "H" else b""))  # sometimes not UTF-8
            paths[key] = str(path)

        def resolve(arg: str) -> str:
            head, _, tail = arg.partition("/")
            return paths[head] + ("/" + tail if tail else "") if head in paths else arg

        real = [resolve(a) for a in argv]
        capsys.readouterr()
        try:
            code = main(real)
        except SystemExit as exc:  # argparse usage errors exit from the parser
            code = exc.code
        err = capsys.readouterr().err
    assert code in (0, 2), (real, code, err)
    assert "Traceback" not in err and "internal error" not in err, (real, err)
