"""The shape of the core: stage packages without import cycles, small modules, a small engine."""

from __future__ import annotations

import ast
from pathlib import Path

import fennec_core

ROOT = Path(fennec_core.__file__).parent


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
