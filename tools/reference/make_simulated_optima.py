"""Draw the simulated data sets of the optimizer suite (issue 11, item 1).

Run from the repository root (Python with numpy and pandas; lmmpy is not needed):

    python tools/reference/make_simulated_optima.py

then fit them with lme4 (``Rscript tools/reference/make_simulated_optima.R``).
Writes ``tests/data/simulated_optima/``:

* ``sets.csv``: one row per data set: ``set`` (its id), ``suite``, ``seed``,
  ``formula``, ``reml`` (TRUE/FALSE), ``weighted`` (TRUE when the fit uses
  ``weights = w``), ``groups``, ``rows``;
* ``data.csv.gz``: the data of every set, long, in columns ``set, g, x, z, w, y``
  (``z`` and ``w`` empty where the set has none), values rounded to 6
  significant digits — the rounded values *are* the data: lme4 and the tests
  read this file, so nothing depends on numpy's random streams staying the same.

The suites (all draws from ``numpy.random.default_rng``):

``slope`` — 320 sets of ``y ~ x + (x | g)``, seed ``s`` = 0..319,
``rng = default_rng([11, s])``: 5–40 groups; in half the sets each group has
3–20 rows (drawn per group), in the others every group has the same number
(3–20); x standard normal, or (every fourth set) ``500 + 100·N(0, 1)`` (a scale
of 100s, the slope's standard deviation scaled by 1/100 to match); the
intercept SD is 0, 0.3 or 1, the slope SD 0, 0.1 or 0.5, their correlation
uniform on (−0.9, 0.9), the residual SD 1; every fifth set has prior weights
``w`` uniform on (0.5, 3) (residual SD 1/√w); odd seeds are fitted by ML, even
ones by REML.

``three`` — 120 sets of ``y ~ x + z + (1 + x + z | g)``.  Seeds 0–59 are the
generator of issue 11 exactly (15 groups of 10 rows, intercept, x and z SDs
0.5, 0.1 and 0, REML), ``rng = default_rng(seed)``.  Seeds 60–119 vary it:
``rng = default_rng([13, seed])``, 8–30 groups of 5–15 rows, SDs 0.5·U, 0.3·U
and 0.2·U with U uniform on (0, 1) (one of the three set to 0 in every other
set), ML for odd seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path("tests/data/simulated_optima")
N_SLOPE, N_THREE = 320, 120
DIGITS = "%.6g"


def slope_set(seed: int) -> tuple[pd.DataFrame, dict]:
    """One ``y ~ x + (x | g)`` data set and its fit settings."""
    rng = np.random.default_rng([11, seed])
    groups = int(rng.integers(5, 41))
    if seed % 2:
        sizes = rng.integers(3, 21, size=groups)
    else:
        sizes = np.full(groups, int(rng.integers(3, 21)))
    g = np.repeat(np.arange(groups), sizes)
    n = len(g)
    wide_x = seed % 4 == 3
    x = rng.normal(size=n)
    if wide_x:
        x = 500 + 100 * x
    sd_intercept = rng.choice([0.0, 0.3, 1.0])
    sd_slope = rng.choice([0.0, 0.1, 0.5]) / (100 if wide_x else 1)
    rho = rng.uniform(-0.9, 0.9)
    cov = np.array([[sd_intercept**2, rho * sd_intercept * sd_slope],
                    [rho * sd_intercept * sd_slope, sd_slope**2]])
    b = rng.multivariate_normal(np.zeros(2), cov, size=groups, method="eigh")
    weighted = seed % 5 == 4
    w = rng.uniform(0.5, 3.0, size=n) if weighted else np.ones(n)
    y = 1 + 0.3 * x + b[g, 0] + b[g, 1] * x + rng.normal(size=n) / np.sqrt(w)
    data = pd.DataFrame({"g": g, "x": x, "z": np.nan, "w": w if weighted else np.nan, "y": y})
    settings = {"suite": "slope", "seed": seed, "formula": "y ~ x + (x | g)",
                "reml": seed % 2 == 0, "weighted": weighted}
    return data, settings


def issue_set(seed: int) -> pd.DataFrame:
    """Issue 11's generator (15 groups of 10 rows) with this seed."""
    rng = np.random.default_rng(seed)
    G, m = 15, 10
    g = np.repeat(np.arange(G), m)
    x = rng.normal(size=G * m)
    z = rng.normal(size=G * m)
    b = rng.normal(size=(G, 3)) * np.array([0.5, 0.1, 0.0])
    y = 1 + .3 * x - .2 * z + b[g, 0] + b[g, 1] * x + b[g, 2] * z + rng.normal(size=G * m)
    return pd.DataFrame({"g": g, "x": x, "z": z, "w": np.nan, "y": y})


def varied_set(seed: int) -> pd.DataFrame:
    """The issue's generator with random sizes and standard deviations."""
    rng = np.random.default_rng([13, seed])
    G, m = int(rng.integers(8, 31)), int(rng.integers(5, 16))
    g = np.repeat(np.arange(G), m)
    x = rng.normal(size=G * m)
    z = rng.normal(size=G * m)
    sd = np.array([0.5, 0.3, 0.2]) * rng.uniform(size=3)
    if seed % 2:
        sd[rng.integers(0, 3)] = 0.0
    b = rng.normal(size=(G, 3)) * sd
    y = 1 + .3 * x - .2 * z + b[g, 0] + b[g, 1] * x + b[g, 2] * z + rng.normal(size=G * m)
    return pd.DataFrame({"g": g, "x": x, "z": z, "w": np.nan, "y": y})


def three_set(seed: int) -> tuple[pd.DataFrame, dict]:
    """One ``y ~ x + z + (1 + x + z | g)`` data set and its fit settings."""
    data = issue_set(seed) if seed < 60 else varied_set(seed)
    settings = {"suite": "three", "seed": seed, "formula": "y ~ x + z + (1 + x + z | g)",
                "reml": seed < 60 or seed % 2 == 0, "weighted": False}
    return data, settings


def main() -> None:
    frames, rows = [], []
    draws = [slope_set(seed) for seed in range(N_SLOPE)] + \
            [three_set(seed) for seed in range(N_THREE)]
    for set_id, (data, settings) in enumerate(draws):
        frames.append(data.assign(set=set_id))
        rows.append({"set": set_id, **settings, "groups": data["g"].nunique(), "rows": len(data)})
    OUT.mkdir(parents=True, exist_ok=True)
    sets = pd.DataFrame(rows)
    for flag in ("reml", "weighted"):
        sets[flag] = np.where(sets[flag], "TRUE", "FALSE")
    sets.to_csv(OUT / "sets.csv", index=False)
    data = pd.concat(frames)[["set", "g", "x", "z", "w", "y"]]
    data.to_csv(OUT / "data.csv.gz", index=False, float_format=DIGITS,
                compression={"method": "gzip", "mtime": 0})
    print(f"{len(sets)} sets, {len(data)} rows -> {OUT}")


if __name__ == "__main__":
    main()
