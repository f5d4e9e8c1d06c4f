"""List the import cycles between lmmpy's packages and modules.

    python tools/import_cycles.py [--lazy] [--modules]

Reads every ``import``/``from ... import`` of lmmpy's source (ast, nothing is
imported).  By default only module-level imports count (the ones that run at
import time; ``if TYPE_CHECKING:`` blocks are left out); ``--lazy`` adds the
imports inside functions.  Nodes are the top-level packages/modules
(``lmmpy.inference``, ``lmmpy.results``, ...), or every module with
``--modules``.  Prints each strongly connected component with more than one
node, and one cycle through it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "lmmpy"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, lazy: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node, top: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            inner = top and not function
            if isinstance(child, ast.Import) and (top or lazy):
                found.update(a.name for a in child.names if a.name.startswith("lmmpy"))
            elif isinstance(child, ast.ImportFrom) and (top or lazy):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                if base.startswith("lmmpy"):
                    found.add(base)
                    found.update(f"{base}.{a.name}" for a in child.names)
            visit(child, inner)

    visit(tree, True)
    return found


def node_of(module: str, known: set[str], modules: bool) -> str | None:
    while module and module not in known:
        module = module.rpartition(".")[0]
    if not module:
        return None
    return module if modules else ".".join(module.split(".")[:2])


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10_000)

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            out.append(sorted(component))

    for v in list(graph):
        if v not in index:
            connect(v)
    return [c for c in out if len(c) > 1]


def a_cycle(graph, component):
    start, members = component[0], set(component)
    path, seen = [start], {start}
    while True:
        for w in sorted(graph[path[-1]]):
            if w == start and len(path) > 1:
                return [*path, start]
            if w in members and w not in seen:
                path.append(w)
                seen.add(w)
                break
        else:
            return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lazy", action="store_true", help="count imports inside functions")
    parser.add_argument("--modules", action="store_true", help="one node per module")
    args = parser.parse_args(argv)
    files = {module_name(p): p for p in ROOT.rglob("*.py")}
    known = set(files)
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in files.items():
        source = node_of(name, known, args.modules)
        graph[source]
        for target in imports(path, args.lazy):
            node = node_of(target, known, args.modules)
            if node and node != source and node != "lmmpy":
                graph[source].add(node)
    components = strongly_connected(graph)
    for component in components:
        print(f"{len(component)} in a cycle: {', '.join(component)}")
        print("   e.g. " + " -> ".join(a_cycle(graph, component)))
    if not components:
        print("no import cycles")
    return 1 if components else 0


if __name__ == "__main__":
    sys.exit(main())
