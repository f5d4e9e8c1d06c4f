"""Simulated crossed designs for the speed benchmarks (generated, never committed).

``crossed(n, n_g1, n_g2)`` draws ``y = 1 + 0.5 x1 − 0.3 x2 + b1[g1] + c1[g1] x1
+ b2[g2] + ε`` with g1 (random intercept and slope for x1) and g2 (random
intercept) crossed:

* ``layout="random"``: row i is in g1 level ``i mod n_g1`` and a uniformly
  drawn g2 level — the 1,000,000-row model of issue 3 (20,000 × 500 levels,
  each g1 level seeing about 48 of the g2 levels);
* ``layout="cells"``: the n_g1 · n_g2 cells are filled in turn, so every cell
  is observed once n ≥ n_g1 · n_g2 and Z'Z has the same pattern for every
  larger n — the design for showing that an evaluation does not depend on n.

The seed is fixed so every run fits the same data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FORMULA = "y ~ x1 + x2 + (1 + x1 | g1) + (1 | g2)"
SEED = 20240607


def crossed(n: int, n_g1: int = 20_000, n_g2: int = 500, layout: str = "random",
            seed: int = SEED) -> pd.DataFrame:
    """The data frame (y, x1, x2, g1, g2) with categorical grouping factors."""
    rng = np.random.default_rng(seed)
    if layout == "random":
        g1, g2 = np.arange(n) % n_g1, rng.integers(0, n_g2, n)
    elif layout == "cells":
        cell = np.arange(n) % (n_g1 * n_g2)
        g1, g2 = cell // n_g2, cell % n_g2
    else:
        raise ValueError(f"layout must be 'random' or 'cells', not {layout!r}")
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    b1 = rng.normal(size=(n_g1, 2)) * [0.8, 0.3]
    b2 = rng.normal(size=n_g2) * 0.5
    y = (1 + 0.5 * x1 - 0.3 * x2 + b1[g1, 0] + b1[g1, 1] * x1 + b2[g2]
         + rng.normal(size=n))
    return pd.DataFrame({
        "y": y, "x1": x1, "x2": x2,
        "g1": pd.Categorical.from_codes(g1, [f"a{i}" for i in range(n_g1)]),
        "g2": pd.Categorical.from_codes(g2, [f"b{i}" for i in range(n_g2)]),
    })


BINARY_FORMULA = "y ~ x + (1 | subject) + (1 | item)"


def binary_crossed(n: int = 1_000_000, n_subject: int = 20_000, n_item: int = 2_000,
                   seed: int = SEED) -> pd.DataFrame:
    """A binary response with crossed subjects and items (issue 12's 1,000,000-row GLMM).

    ``P(y = 1) = logistic(−0.5 + 0.4 x + s[subject] + t[item])`` with s ~ N(0, 1) and
    t ~ N(0, 0.5²); row i is subject ``i mod n_subject`` (50 rows each at the default
    sizes) and a uniformly drawn item (about 500 rows each).
    """
    rng = np.random.default_rng(seed)
    subject, item = np.arange(n) % n_subject, rng.integers(0, n_item, n)
    x = rng.normal(size=n)
    eta = -0.5 + 0.4 * x + rng.normal(size=n_subject)[subject] + 0.5 * rng.normal(size=n_item)[item]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({
        "y": y, "x": x,
        "subject": pd.Categorical.from_codes(subject, [f"s{i}" for i in range(n_subject)]),
        "item": pd.Categorical.from_codes(item, [f"i{i}" for i in range(n_item)]),
    })
