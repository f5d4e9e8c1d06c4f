"""Data and fits shared by the tests of lmmpy.chunked."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import lmmpy

CROSSED = "y ~ x + (x | g1) + (1 | g2)"


def simulated_crossed(n: int, levels: tuple[int, int] = (2000, 100), seed: int = 15
                      ) -> pd.DataFrame:
    """y = 1 + 0.5 x + b1 + c1 x + b2 + e, g1 × g2 crossed, g1 as strings, g2 as integers."""
    rng = np.random.default_rng(seed)
    n1, n2 = levels
    g1, g2 = rng.integers(n1, size=n), rng.integers(n2, size=n)
    x = rng.normal(size=n)
    b1, c1 = rng.normal(scale=0.8, size=n1), rng.normal(scale=0.3, size=n1)
    b2 = rng.normal(scale=0.5, size=n2)
    y = 1 + 0.5 * x + b1[g1] + c1[g1] * x + b2[g2] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g1": np.char.add("u", g1.astype(str)), "g2": g2})


def write_parquet(frames: list[pd.DataFrame], folder: Path, row_group_size: int) -> Path:
    """Each frame a file of ``folder`` (``part-000.parquet``, ...), in row groups."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        frame.to_parquet(folder / f"part-{i:03d}.parquet", row_group_size=row_group_size,
                         index=False)
    return folder


def split(frame: pd.DataFrame, parts: int) -> list[pd.DataFrame]:
    return [frame.iloc[rows] for rows in np.array_split(np.arange(len(frame)), parts)]


def fit(formula: str, data, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        return lmmpy.lmer(formula, data, **options)


def relative_difference(a, b) -> float:
    a, b = np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(b, float))
    if not a.size:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def assert_same_fit(chunked, in_memory, rtol: float = 1e-8) -> None:
    """θ, β and the log-likelihood equal to ``rtol`` (θ's zeros on a bound: absolutely)."""
    assert list(chunked.fixef.index) == list(in_memory.fixef.index)
    theta, reference = chunked.theta, in_memory.theta
    assert np.allclose(theta, reference, rtol=rtol, atol=rtol * max(1.0, np.abs(reference).max()))
    assert relative_difference(chunked.fixef, in_memory.fixef) < rtol or np.allclose(
        chunked.fixef, in_memory.fixef, rtol=rtol, atol=rtol * np.abs(in_memory.fixef).max())
    assert relative_difference(chunked.loglik, in_memory.loglik) < rtol
    assert chunked.nobs == in_memory.nobs
