"""The package's layout holds: no import circle among the modules of ``thresher.pipelines`` and
``thresher.transforms`` (imports inside functions included: a lazy import is still a circle), nothing
in ``transforms/`` imports ``pipelines``, and no module of ``transforms/`` is longer than
``MAX_TRANSFORM_LINES``. The import graph is read from the source with ``ast``; nothing is imported."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

from tests.conftest import PROJECT_ROOT

ROOT = Path(PROJECT_ROOT)
WINGS = ("pipelines", "transforms")
MAX_TRANSFORM_LINES = 320


def _modules() -> Dict[str, Path]:
    """``thresher.transforms.io.sinks`` -> its file, for every module of the two wings."""
    found = {}
    for wing in WINGS:
        for path in sorted((ROOT / wing).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(["thresher"] + parts)] = path
    return found


def _imported(path: Path, module: str, is_package: bool) -> Set[str]:
    """Every ``thresher.`` module ``path`` imports, anywhere in the file (relative imports resolved)."""
    names: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(package + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)  # ``from package import module``
    return {n for n in names if n.startswith("thresher.")}


def _graph() -> Dict[str, Set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imported(path, name, path.name == "__init__.py"):
            while imported and imported not in modules:  # ``thresher.x.y.Name`` -> ``thresher.x.y``
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)  # a module importing its own package is not a circle
        graph[name] = targets
    return graph


def _circles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One circle per strongly connected component of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_every_module_and_a_circle():
    graph = _graph()
    assert "thresher.pipelines.run.builder" in graph and "thresher.transforms.base" in graph
    assert "thresher.transforms.base" in graph["thresher.pipelines.run.builder"]
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_among_pipelines_and_transforms():
    circles = _circles(_graph())
    assert not circles, "import circles (modules importing each other, lazily or not):\n" + "\n".join(
        " <-> ".join(c) for c in circles)


def test_transforms_never_import_pipelines():
    graph = _graph()
    wrong = sorted(f"{m} imports {t}" for m, targets in graph.items() if m.startswith("thresher.transforms")
                   for t in targets if t.startswith("thresher.pipelines"))
    assert not wrong, "\n".join(wrong)


def test_no_transforms_module_exceeds_the_line_bound():
    # THE BOUND: modules of transforms/ are split along natural seams to at most MAX_TRANSFORM_LINES
    # lines (issue #13). This assertion fails while a split is unfinished; it is not loosened.
    long = sorted(f"{path.relative_to(ROOT)}: {n} lines" for path in (ROOT / "transforms").rglob("*.py")
                  if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_TRANSFORM_LINES)
    assert not long, f"modules over {MAX_TRANSFORM_LINES} lines:\n" + "\n".join(long)
