"""lmmpy's packages import each other without cycles, counting imports inside functions
(issue 12: inference/, diagnostics/ and report/ depend on the fitted-model interface,
``lmmpy._fitted.FittedModel``, not on the model classes; ``tools/import_cycles.py``)."""

from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import lmmpy

TOOL = Path(__file__).parents[1] / "tools" / "import_cycles.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("import_cycles", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _graph(tool, lazy: bool, modules: bool = False) -> dict[str, set[str]]:
    files = {tool.module_name(path): path for path in tool.ROOT.rglob("*.py")}
    known = set(files)
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in files.items():
        source = tool.node_of(name, known, modules)
        graph[source]
        for target in tool.imports(path, lazy):
            node = tool.node_of(target, known, modules)
            if node and node not in (source, "lmmpy"):
                graph[source].add(node)
    return graph


def test_the_tool_reads_this_package(tool):
    assert Path(lmmpy.__file__).parent == tool.ROOT


@pytest.mark.parametrize("lazy", [False, True], ids=["module-level", "with-lazy"])
def test_no_import_cycle_between_packages(tool, lazy):
    cycles = tool.strongly_connected(_graph(tool, lazy))
    assert cycles == [], "import cycles: " + "; ".join(
        " -> ".join(tool.a_cycle(_graph(tool, lazy), component)) for component in cycles)


def test_the_tool_finds_a_cycle(tool):
    """The check can fail: a graph with a cycle has a component."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert tool.strongly_connected(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", ["lmmpy.inference", "lmmpy.diagnostics", "lmmpy.report"])
def test_analyses_do_not_import_the_model_classes(tool, package):
    """They take a fitted model through its interface; the model modules are above them."""
    graph = _graph(tool, lazy=True)
    assert not graph[package] & {"lmmpy.results", "lmmpy.glmm", "lmmpy.fit", "lmmpy.chunked"}


def test_both_models_declare_the_interface():
    from lmmpy._fitted import is_fitted_model

    data = lmmpy.datasets.load("cbpp")
    glmm = lmmpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", data)
    lmm = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))
    assert is_fitted_model(glmm) and glmm.is_generalized
    assert is_fitted_model(lmm) and not lmm.is_generalized
    assert not is_fitted_model(data)
