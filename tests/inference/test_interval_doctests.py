"""The examples in the docstrings of the interval, simulation and bootstrap modules run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["._varpar", "._profile", "._confint", "._simulate", "._bootstrap", "._predict_se"]


@pytest.mark.parametrize("suffix", MODULES)
def test_docstring_examples(suffix: str) -> None:
    module = importlib.import_module("lmmpy.inference" + suffix)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
