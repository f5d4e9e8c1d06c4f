"""``import lmmpy`` is light: the numerical stack is imported on first use (PEP 562)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import lmmpy


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}; import sys; print(*sys.modules)"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_lmmpy_imports_neither_pandas_nor_scipy_nor_formulaic():
    modules = _modules_after("import lmmpy")
    assert not {"pandas", "scipy", "formulaic", "numba"} & modules


def test_public_names_resolve_on_first_use():
    for name in lmmpy.__all__:
        assert getattr(lmmpy, name) is not None
    assert "lmer" in dir(lmmpy)
    from lmmpy import lmer

    assert lmer is lmmpy.lmer


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'lmmpy' has no attribute 'lmre'"):
        lmmpy.lmre  # noqa: B018


def test_the_chunked_fit_imports_dask_only_when_given_dask_data():
    modules = _modules_after("import lmmpy; lmmpy.lmer; import lmmpy.chunked")
    assert not {"dask", "distributed"} & modules


def test_subpackages_need_no_import_of_their_own():
    """The issue's `import lmmpy; lmmpy.plots.check_model(m)`: subpackages load on first use,
    and loading lmmpy.plots does not import matplotlib."""
    modules = _modules_after("import lmmpy; lmmpy.plots.check_model; lmmpy.inference.ranova")
    assert "lmmpy.plots" in modules and "matplotlib" not in modules
