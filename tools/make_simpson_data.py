"""Generate lmmpy/datasets/simpson.csv: within- and between-group slopes of opposite sign.

Model (30 groups j, n_j observations each, n_j drawn from 10..30):

    m_j  ~ N(0, 2²)                      group mean of x
    u_j  = 3 m_j + N(0, 1)               group intercept shift, correlated with m_j
    x_ij = m_j + N(0, 1)
    y_ij = 5 − 1·x_ij + u_j + N(0, 1.5²)

Within a group y falls with x (slope −1); the group means satisfy
ȳ_j ≈ 5 + (−1 + 3) m_j, so across groups y rises with x (between slope +2).
The contextual effect (between − within) is +3.  Ordinary least squares
ignoring the groups mixes the two: with Var(m) = 4 and within variance 1 its
slope is near (4·2 + 1·(−1)) / 5 = 1.4 > 0 — the wrong sign for the effect
of x within a group.

Run from the repository root: ``python tools/make_simpson_data.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240605
N_GROUPS = 30
WITHIN, CONTEXT, INTERCEPT = -1.0, 3.0, 5.0
OUT = Path(__file__).resolve().parent.parent / "lmmpy" / "datasets" / "simpson.csv"


def simulate(seed: int = SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(10, 31, size=N_GROUPS)
    group_mean = rng.normal(0.0, 2.0, size=N_GROUPS)
    shift = CONTEXT * group_mean + rng.normal(0.0, 1.0, size=N_GROUPS)
    g = np.repeat(np.arange(N_GROUPS), sizes)
    x = group_mean[g] + rng.normal(0.0, 1.0, size=len(g))
    y = INTERCEPT + WITHIN * x + shift[g] + rng.normal(0.0, 1.5, size=len(g))
    labels = np.array([f"g{j + 1:02d}" for j in range(N_GROUPS)])
    return pd.DataFrame({"y": np.round(y, 4), "x": np.round(x, 4), "g": labels[g]})


if __name__ == "__main__":
    frame = simulate()
    frame.to_csv(OUT, index=False)
    print(f"wrote {OUT} ({len(frame)} rows, {frame['g'].nunique()} groups)")
