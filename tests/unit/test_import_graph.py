"""The import graph of the non-test code has no circles, and runs one way: down.

Every ``import`` statement counts as an edge: module level, inside a function (the lazy
imports that only hide a circle until run time) and under ``if TYPE_CHECKING:`` (a circle a
type checker walks is still a circle a reader must untangle). The graph is read from the
source with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The folders of the one installed package: synthlake/ and the rooms that install under it
# (pyproject's package-dir: ingest/ is synthlake.ingest, ...).
ROOM_FOLDERS = ("ingest", "export", "train")
PACKAGES = ("synthlake", *ROOM_FOLDERS)
FOLDERS = (*PACKAGES, "python_models", "bench")  # python_models/bench: files dbt/you run


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] in ROOM_FOLDERS:
        parts.insert(0, "synthlake")
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if ".venv" not in path.parts:
                found[_module_name(path)] = path
    return found


def _imported(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """Every project module an import in ``tree`` names (relative imports resolved).

    ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to
    ``pkg``. A package's ``__init__`` that runs first is not counted as an edge of its own:
    ``from pkg import submodule`` inside the package is how Python is meant to be used."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in known else base


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (only names that are project modules)."""
    sources = _sources()
    known = set(sources)
    graph: dict[str, set[str]] = {}
    for module, path in sources.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        imported = _imported(tree, module, path.name == "__init__.py", known)
        graph[module] = {name for name in imported if name in known and name != module}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # the graph is a few hundred modules: recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_one_cycle(graph, set(component)) for component in components]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A concrete path a -> b -> ... -> a inside one strongly connected component."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & component):
            if nxt == start:
                return [*paths[node], start]
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    raise AssertionError(f"not a cycle: {sorted(component)}")  # pragma: no cover


def test_the_graph_is_read():
    graph = import_graph()
    # a known edge of each kind: module level, and a lazy import inside a function
    assert "synthlake.errors" in graph["synthlake.lake"]
    assert "synthlake.redact" in graph["synthlake.errors"]  # lazy, in SynthlakeError.__str__
    # `from synthlake.ingest.news import ansa` is an edge to the submodule, not the package
    assert "synthlake.ingest.news.ansa" in graph["synthlake.ingest.news.crawl"]
    assert "synthlake.ingest.news" not in graph["synthlake.ingest.news.crawl"]


def test_cycle_finder_reports_the_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


# --- layering ------------------------------------------------------------------------------
# Rooms, lowest first; a module may import its own room and the rooms *below* it. The kernel
# (synthlake.*: settings, lake, errors, the LLM runner, the transform logic) imports no room;
# the rooms (synthlake.ingest, synthlake.export, synthlake.train, python_models) import the
# kernel; the composition layer (synthlake.pipeline: CLI, flows, schedule, doctor, run
# summary) imports them all and nothing imports it; bench may import anything.
ROOMS: dict[str, int] = {  # room -> level
    "kernel": 0,
    "ingest": 1,
    "export": 1,
    "train": 1,
    "python_models": 1,
    "composition": 2,
    "bench": 3,
}


def room_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "synthlake" and len(parts) > 1:
        if parts[1] == "pipeline":
            return "composition"
        if parts[1] in ROOM_FOLDERS:
            return parts[1]
    return "kernel" if parts[0] == "synthlake" else parts[0]


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        mine = room_of(module)
        for target in sorted(targets):
            theirs = room_of(target)
            if theirs != mine and ROOMS[theirs] >= ROOMS[mine]:
                bad.append(f"{module} ({mine}) -> {target} ({theirs})")
    return bad


def test_layering_checker_flags_an_upward_import():
    graph = {
        "synthlake.lake": {"synthlake.ingest.hf"},
        "synthlake.ingest.hf": {"synthlake.lake", "synthlake.pipeline.cli"},
        "synthlake.pipeline.cli": {"synthlake.ingest.hf", "synthlake.lake"},
    }
    assert layering_violations(graph) == [
        "synthlake.ingest.hf (ingest) -> synthlake.pipeline.cli (composition)",
        "synthlake.lake (kernel) -> synthlake.ingest.hf (ingest)",
    ]


def test_imports_run_one_way_down():
    violations = layering_violations(import_graph())
    assert not violations, "imports against the layering:\n" + "\n".join(violations)


def test_rooms_are_imported_under_the_synthlake_namespace():
    """`import ingest...` would load a second copy of a room (from the checkout's folder, when
    the working directory is the repository) beside the installed synthlake.ingest."""
    old_names = []
    for module, path in _sources().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            old_names += [f"{module}: {n}" for n in names if n.split(".")[0] in ROOM_FOLDERS]
    assert not old_names, "import the rooms as synthlake.<room>:\n" + "\n".join(old_names)
