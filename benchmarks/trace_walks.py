"""How far three everyday requests walk through the code, and how often they call up a layer.

The three walks, each in a fresh process so lazy imports count where they happen:

- ``fit``: a history (the bundled pytorchcv105 table, 105 models x 7 tasks) through ``Fennec().fit``;
- ``rank``: ``Fennec.load(pytorchcv105).rank(description=...)``, a task described in words;
- ``serve``: ``POST /rank`` with a description to the JSON bytes, through the in-process app
  (the app and its zoo are made before tracing starts: that is the server's start-up).

Every Python call is traced (``sys.setprofile``). A *module visited* is a ``fennec_core`` or
``fennec_plugins`` module whose code ran (its import included). An *upward call* is a call from
one of these modules to a function of a ``fennec_core`` module of a higher layer; an *upward method
call* one to a method (of an object handed down, such as the fitted-zoo record), counted apart. The
layers, lowest first, are the ones docs/architecture.md lists and tests/test_layout.py holds for
imports (read from there, so the two never disagree):

====  =====================================================================
0     base: ``fennec_core`` (the package), ``errors``, ``device``, ``records``, ``table``,
      ``metrics``, ``checks``, ``images``
1     ``plugin`` (hookspecs, contracts, registry)
2     ``scoring``
3     ``zoo``
4     ``architecture``
5     ``history``
6     ``task``
7     ``io``
8     ``engine``
9     ``evaluation``, ``serve``, ``bundled_zoo``, ``plugin_api``; and every plugin
      (``fennec_plugins``: they may use ``plugin_api``)
10    ``cli``
====  =====================================================================

A call from the core into a plugin goes through a written contract (a component's method), not
an import, so it is not counted as upward; a plugin calling the cli would be.

    python benchmarks/trace_walks.py            # the table
    python benchmarks/trace_walks.py --detail   # and every upward edge
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from collections import Counter

DESCRIPTION = "photos of people holding yoga poses"

def _layers() -> list[set[str]]:
    """tests/test_layout.py's LAYERS (the documented package layers), read as data."""
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).resolve().parents[1] / "tests" / "test_layout.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "LAYERS")
    return [set(ast.literal_eval(elt)) for elt in node.value.elts]


LAYERS = {name: i for i, names in enumerate(_layers()) for name in names}
PLUGIN_LAYER = LAYERS["plugin_api"]
#: core modules registered as plugins (the built-in evaluation protocols), entered through their hooks
BUILTIN_PLUGINS = ("fennec_core.evaluation",)


def layer(module: str) -> int | None:
    """The layer of a fennec module name, or None for any other module."""
    if module.startswith("fennec_plugins"):
        return PLUGIN_LAYER
    if module == "fennec_core" or module.startswith("fennec_core."):
        parts = module.split(".")
        return LAYERS.get(parts[1] if len(parts) > 1 else "fennec_core", 0)
    return None


def _walk_fit() -> dict:
    from fennec_core import Fennec
    from fennec_core.io.catalog import resolve

    history = os.path.join(os.path.dirname(resolve("pytorchcv105")), "zoo105_history.csv")
    return _traced(lambda: Fennec(seed=0, device="cpu").fit(history))


def _walk_rank() -> dict:
    from fennec_core import Fennec
    from fennec_core.io.catalog import resolve

    path = resolve("pytorchcv105")
    return _traced(lambda: Fennec.load(path, device="cpu").rank(description=DESCRIPTION, top=5))


def _walk_serve() -> dict:
    import tempfile

    from fastapi.testclient import TestClient

    from fennec_core.serve.app import create_app
    from fennec_core.serve.settings import resolve_settings

    settings = resolve_settings(zoos=["pytorchcv105"], data_dir=tempfile.mkdtemp(), preload_text=False)
    api = TestClient(create_app(settings), base_url="http://localhost")

    def post() -> bytes:
        res = api.post("/rank", json={"description": DESCRIPTION, "top": 5})
        assert res.status_code == 200, res.text
        return res.content

    return _traced(post)


def _traced(walk) -> dict:  # noqa: ANN001
    visited: set[str] = set()
    upward: Counter[tuple[str, str]] = Counter()
    methods: Counter[tuple[str, str]] = Counter()

    def profile(frame, event, arg):  # noqa: ARG001
        if event != "call":
            return
        callee = frame.f_globals.get("__name__", "")
        lc = layer(callee)
        if lc is None:
            return
        visited.add(callee)
        caller = frame.f_back
        while caller is not None and layer(caller.f_globals.get("__name__", "")) is None:
            caller = caller.f_back  # through library frames (pluggy, importlib) to the fennec caller
        if caller is None or callee.startswith("fennec_plugins") or callee.startswith(BUILTIN_PLUGINS):
            return  # into a plugin (a registered module: the built-in protocols too) through its contract
        name = caller.f_globals.get("__name__", "")
        if name != callee and layer(name) < lc:
            code = frame.f_code  # a method of an object handed down (a record's) is not an import
            method = code.co_argcount > 0 and code.co_varnames[0] in ("self", "cls")
            (methods if method else upward)[(name, callee)] += 1

    threading.setprofile(profile)  # the server answers in worker threads
    sys.setprofile(profile)
    try:
        walk()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    return {"modules": sorted(visited), "upward": _edges(upward), "methods": _edges(methods)}


def _edges(counts: Counter[tuple[str, str]]) -> dict[str, int]:
    return {f"{a} -> {b}": n for (a, b), n in sorted(counts.items())}


WALKS = {"fit": _walk_fit, "rank": _walk_rank, "serve": _walk_serve}


def main() -> None:
    """Run each walk in a fresh process and print one Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--detail", action="store_true", help="list every upward edge and module")
    parser.add_argument("--walk", choices=sorted(WALKS), help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.walk:
        print(json.dumps(WALKS[args.walk]()))
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0"}
    print("| walk | fennec modules visited | of them plugins | upward calls (edges) | upward method calls (edges) |")
    print("|---|---:|---:|---:|---:|")
    details = {}
    for name in WALKS:
        out = subprocess.run([sys.executable, __file__, "--walk", name], capture_output=True, text=True, env=env,
                             check=False)
        if out.returncode:
            sys.exit(f"walk {name} failed:\n{out.stderr[-3000:]}")
        doc = json.loads(out.stdout.strip().splitlines()[-1])
        details[name] = doc
        plugins = sum(m.startswith("fennec_plugins") for m in doc["modules"])
        print(f"| {name} | {len(doc['modules'])} | {plugins} | {sum(doc['upward'].values())} ({len(doc['upward'])}) "
              f"| {sum(doc['methods'].values())} ({len(doc['methods'])}) |")
    if args.detail:
        for name, doc in details.items():
            print(f"\n{name}: modules {', '.join(doc['modules'])}")
            for edge, n in doc["upward"].items():
                print(f"  {edge}: {n}")
            for edge, n in doc["methods"].items():
                print(f"  {edge} (methods): {n}")


if __name__ == "__main__":
    main()
