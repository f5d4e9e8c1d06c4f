"""The BLAS thread policy of a fit (lmmpy/_threads.py).

One thread for the blocked path's small Schur complements, the BLAS's default
for the dense path and for large dense factors, ``LMMPY_BLAS_THREADS``
overriding both; the limit is in force during the fit and lifted after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy import _threads
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products


def _crossed(levels2, levels1=300, n=3000, seed=1):
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"g1": rng.integers(0, levels1, n).astype(str),
                         "g2": rng.integers(0, levels2, n).astype(str)})
    data["y"] = (rng.normal(size=n) + rng.normal(size=levels1)[data.g1.astype(int)]
                 + rng.normal(size=levels2)[data.g2.astype(int)])
    return data


def _objective(data, path=None):
    design = build_design(parse_formula("y ~ 1 + (1 | g1) + (1 | g2)"), data)
    return ProfiledDeviance(cross_products(design), design.terms, False, _path=path)


@pytest.mark.parametrize(("levels", "path", "expected"), [
    ((12, 40), "dense", None),      # q + p + 1 ≤ 128: OpenBLAS does not split it
    ((12, 300), "blocked", 1),      # a 14-square Schur complement
    ((200, 300), "cholmod", 1),     # q = 500
])
def test_the_policy_by_the_size_of_the_dense_factor(levels, path, expected, monkeypatch):
    monkeypatch.delenv(_threads.ENVIRONMENT, raising=False)
    objective = _objective(_crossed(*levels), path)
    assert objective.path == path
    assert _threads.fit_threads_limit(objective) == expected


def test_large_dense_factors_keep_the_blas_default(monkeypatch):
    monkeypatch.delenv(_threads.ENVIRONMENT, raising=False)
    monkeypatch.setattr(_threads, "THREADED_SIZE", 100)
    objective = _objective(_crossed(200), "blocked")
    assert _threads.dense_size(objective) == 202
    assert _threads.fit_threads_limit(objective) is None


@pytest.mark.parametrize("path", ["dense", "blocked"])
def test_the_environment_variable_overrides_the_policy(path, monkeypatch):
    monkeypatch.setenv(_threads.ENVIRONMENT, "3")
    data = _crossed(12, 40 if path == "dense" else 300)
    assert _threads.fit_threads_limit(_objective(data, path)) == 3


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_setting_is_named(value, monkeypatch):
    monkeypatch.setenv(_threads.ENVIRONMENT, value)
    with pytest.raises(ValueError, match=f"LMMPY_BLAS_THREADS must be a positive integer, "
                                         f"not '{value}'"):
        _threads.fit_threads_limit(_objective(_crossed(12), "blocked"))


def test_the_limit_holds_during_the_fit_and_is_lifted_after(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setenv(_threads.ENVIRONMENT, "1")
    seen = []
    original = ProfiledDeviance._evaluate

    def spy(self, theta):
        seen.append(max(info["num_threads"] for info in threadpoolctl.threadpool_info()
                        if info["user_api"] == "blas"))
        return original(self, theta)

    before = [info["num_threads"] for info in threadpoolctl.threadpool_info()
              if info["user_api"] == "blas"]
    monkeypatch.setattr(ProfiledDeviance, "_evaluate", spy)
    lmmpy.lmer("y ~ 1 + (1 | g1) + (1 | g2)", _crossed(12), reml=False)
    assert seen and set(seen) == {1}
    assert [info["num_threads"] for info in threadpoolctl.threadpool_info()
            if info["user_api"] == "blas"] == before
