"""The examples in lmmpy.inference's docstrings (tests, df, LRTs) run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["._numderiv", "._satterthwaite", "._kenward_roger", "._contrast", "._anova",
           "._type3", "._lrt", "._table"]


@pytest.mark.parametrize("suffix", MODULES)
def test_docstring_examples(suffix: str) -> None:
    module = importlib.import_module("lmmpy.inference" + suffix)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
