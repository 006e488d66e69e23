"""The shape of the core: package layers whose imports point down (module level and inside
functions alike), no import cycle between modules or packages, plugins that use only the
documented plugin API, small modules, a small engine. The layers are the ones
docs/architecture.md lists."""

from __future__ import annotations

import ast
from pathlib import Path

import fennec_plugins

import fennec_core
from fennec_core.plugin.registry import DEFAULT_PLUGINS
from fennec_core.plugin_api import PLUGIN_API

ROOT = Path(fennec_core.__file__).parent
PLUGINS = Path(fennec_plugins.__file__).parent

#: The core's packages (and top-level modules), bottom layer first: a module imports only from
#: its own layer or the layers below (docs/architecture.md draws the same list).
LAYERS: list[set[str]] = [
    {"fennec_core", "errors", "device", "records", "table", "metrics", "checks", "images"},  # records, checks, metrics
    {"plugin"},  # hookspecs, contracts, registry
    {"scoring"},  # the meta model, U v, merging, acquisition
    {"zoo"},  # FittedZoo
    {"architecture"},
    {"history"},
    {"task"},
    {"io"},  # tables, the store, the zoo codec
    {"engine"},
    {"evaluation", "serve", "bundled_zoo", "plugin_api"},  # above the engine
    {"cli"},
]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, lazy: bool) -> set[str]:
    """fennec_core modules imported by ``path``: at module level, or anywhere with ``lazy``
    (imports under ``if TYPE_CHECKING:`` never count)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("fennec_core"):
                if top or lazy:
                    out.add(child.module)
                    out.update(f"{child.module}.{a.name}" for a in child.names)
            elif isinstance(child, ast.Import) and (top or lazy):
                out.update(a.name for a in child.names if a.name.startswith("fennec_core"))
            inner = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, top and not inner)

    visit(tree, True)
    return out


def _package(module: str) -> str:
    """``fennec_core.task.vector`` -> ``task``; ``fennec_core.zoo`` -> ``zoo``; the root -> ``fennec_core``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _layer(package: str) -> int:
    found = [i for i, layer in enumerate(LAYERS) if package in layer]
    assert found, f"package {package!r} is in no layer: add it to LAYERS here and in docs/architecture.md"
    return found[0]


def _graph(lazy: bool) -> dict[str, set[str]]:
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    return {m: {i for i in _imports(p, lazy=lazy) if i in modules and i != m} for m, p in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := dfs(n)):
                return found
        state[m] = 2
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and (found := dfs(m)):
            return found
    return None


def test_no_import_cycle_at_module_level():
    assert _cycle(_graph(lazy=False)) is None


def test_no_import_cycle_even_counting_function_level_imports():
    """Lazy imports keep ``import fennec_core`` light, not a way around the layering."""
    assert _cycle(_graph(lazy=True)) is None


def test_imports_point_down_the_layers():
    """Module level or inside a function: no import from a lower layer to a higher one."""
    up = sorted(f"{m} -> {d}" for m, deps in _graph(lazy=True).items() for d in deps
                if _layer(_package(m)) < _layer(_package(d)))
    assert up == []


def test_no_package_cycle():
    """Module cycles are not the only ones: two packages importing each other (through different
    modules) make one too."""
    packages: dict[str, set[str]] = {}
    for m, deps in _graph(lazy=True).items():
        packages.setdefault(_package(m), set()).update(_package(d) for d in deps if _package(d) != _package(m))
    assert _cycle(packages) is None


def test_layers_doc_lists_the_same_packages():
    doc = (Path(__file__).parents[1] / "docs" / "architecture.md").read_text()  # the repository's, not the install's
    for layer in LAYERS:
        for package in layer - {"fennec_core"}:
            assert f"`{package}`" in doc, package


def _plugin_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in a plugin file, at any depth; relative ones resolved."""
    here = ".".join(("fennec_plugins", *path.relative_to(PLUGINS).with_suffix("").parts))
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            out.append((module, [a.name for a in node.names]))
    return out


def _core_module(module: str, names: list[str]) -> list[str]:
    """The core modules an import names (``from fennec_core import metrics`` names a module)."""
    found = [f"{module}.{n}" for n in names if (ROOT.parent / f"{module}.{n}".replace(".", "/")).with_suffix(".py")
             .exists()]
    return found or [module]


def test_plugins_use_only_the_plugin_api_and_their_own_kind():
    """A plugin imports from the core only what fennec_core.plugin_api.PLUGIN_API lists; from other
    plugins its own kind's modules and other kinds' helper modules (modules that register nothing),
    never a private name, and from a registered plugin module only its components (classes), not its
    helpers (those live in helper modules such as the kind's ``base``)."""
    bad = []
    for path in sorted(PLUGINS.rglob("*.py")):
        me = path.relative_to(PLUGINS).parts
        kind = me[0] if len(me) > 1 else None
        for module, names in _plugin_imports(path):
            if module.startswith("fennec_core"):
                for target in _core_module(module, names):
                    if target not in PLUGIN_API:
                        bad.append(f"{path.relative_to(PLUGINS)} imports {target}")
            elif module.startswith("fennec_plugins."):
                other = module.split(".")[1]
                private = [n for n in names if n.startswith("_")]
                helpers = [n for n in names if module in DEFAULT_PLUGINS and not n[:1].isupper()]
                # another kind's module only when it is a helper module (no registered plugin):
                # e.g. the wheel-weights helpers the task proxies and the backbones share
                if (other != kind and module in DEFAULT_PLUGINS) or private or helpers:
                    bad.append(f"{path.relative_to(PLUGINS)} imports {module} {names}")
    assert bad == [], bad


def test_the_engine_imports_no_evaluation_and_no_plugin():
    graph = _graph(lazy=True)
    assert not {m for m in graph["fennec_core.engine"] if m.startswith("fennec_core.evaluation")}
    assert not any("fennec_plugins" in line for line in (ROOT / "engine.py").read_text().splitlines())


def test_modules_are_small_and_the_engine_class_too():
    big = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert big == {}
    tree = ast.parse((ROOT / "engine.py").read_text())
    (engine,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Fennec"]
    assert engine.end_lineno - engine.lineno + 1 <= 400
