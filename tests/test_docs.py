"""Every ``python`` code block of the documentation (docs/ and the README) runs as a reader
would copy it.

The blocks of one page run in order in one namespace (a page may define ``m`` in
one block and use it in the next); a block written as a doctest (``>>>``) must
also print what it shows.
"""

from __future__ import annotations

import doctest
import pathlib
import re
import warnings

import pytest

import lmmpy

ROOT = pathlib.Path(__file__).parents[1]
DOCS = ROOT / "docs"
# the documentation's pages and the README, whose examples are copied as often
SOURCES = {page.name: page for page in sorted(DOCS.glob("*.md"))} | {
    "README.md": ROOT / "README.md"}
PAGES = list(SOURCES)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _run_doctest(source: str, namespace: dict, name: str) -> None:
    test = doctest.DocTestParser().get_doctest(source, namespace, name, name, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test, clear_globs=False)
    namespace.update(test.globs)  # DocTest runs on a copy of the namespace
    assert runner.failures == 0, f"{name}: a doctest block printed something else"


@pytest.mark.parametrize("page", PAGES)
def test_code_blocks_run(page, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib").use("Agg")
    monkeypatch.chdir(pathlib.Path(__file__).parents[1])
    namespace: dict = {}
    blocks = BLOCK.findall(SOURCES[page].read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        for index, source in enumerate(blocks):
            name = f"{page}, block {index + 1}"
            if source.lstrip().startswith(">>>"):
                _run_doctest(source, namespace, name)
            else:
                exec(compile(source, name, "exec"), namespace)
