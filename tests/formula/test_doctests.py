"""The examples in lmmpy.formula's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["", "._errors", "._tokens", "._parse", "._expand", "._formula"]


@pytest.mark.parametrize("suffix", MODULES)
def test_docstring_examples(suffix: str) -> None:
    module = importlib.import_module("lmmpy.formula" + suffix)
    result = doctest.testmod(module)
    assert result.failed == 0
