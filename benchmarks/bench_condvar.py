"""Cost of conditional variances (``ranef_condsd``) and ``predict(se_fit=True)`` (issue 11, 3).

Cases (simulated, fixed seeds, never committed):

* ``slope-<G>``: ``y ~ x1 + (1 + x1 | g1)``, G levels, 10 rows each (blocked path, one term);
* ``crossed-<G>``: ``y ~ x1 + x2 + (1 + x1 | g1) + (1 | g2)``, G levels of g1 crossed with
  500 of g2 (``simulated.crossed``; blocked path);
* ``nested-<G>``: ``y ~ x1 + (1 | school/class)``, G classes in G/5 schools (CHOLMOD path:
  the schools are too many for the dense Schur complement).

For each: the fit, ``ranef_condsd`` (new: selected inverse; old: the column-by-column
solve ``conditional_variance_blocks``, run only up to ``--old-max`` random effects and
otherwise extrapolated from a timed slice of its chunks), and ``predict(se_fit=True)`` on
``--rows`` rows of new data drawn from the fitted levels (the old per-row solve timed on
a slice of rows and scaled; it is linear in the rows).

    .venv/bin/python benchmarks/bench_condvar.py                 # 20k and 50k levels, 1M rows
    .venv/bin/python benchmarks/bench_condvar.py --levels 2000 --rows 100000   # quick
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np
import pandas as pd
from simulated import crossed

import lmmpy
from lmmpy.inference import _predict_se
from lmmpy.objective import conditional_variance_blocks


def slope(n_levels: int, per_level: int = 10, seed: int = 1) -> tuple[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_levels), per_level)
    x1 = rng.normal(size=len(g))
    b = rng.normal(size=(n_levels, 2)) * [0.8, 0.3]
    y = 1 + 0.5 * x1 + b[g, 0] + b[g, 1] * x1 + rng.normal(size=len(g))
    frame = pd.DataFrame({"y": y, "x1": x1, "g1": pd.Categorical.from_codes(
        g, [f"a{i}" for i in range(n_levels)])})
    return "y ~ x1 + (1 + x1 | g1)", frame


def nested(n_classes: int, per_class: int = 10, seed: int = 2) -> tuple[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    c = np.repeat(np.arange(n_classes), per_class)
    school = c // 5
    x1 = rng.normal(size=len(c))
    y = (1 + 0.5 * x1 + rng.normal(size=n_classes)[c] * 0.5
         + rng.normal(size=school.max() + 1)[school] + rng.normal(size=len(c)))
    return "y ~ x1 + (1 | school/class)", pd.DataFrame({
        "y": y, "x1": x1, "school": [f"s{i}" for i in school],
        "class": [f"c{i % 5}" for i in c]})


def crossed_case(n_levels: int) -> tuple[str, pd.DataFrame]:
    return "y ~ x1 + x2 + (1 + x1 | g1) + (1 | g2)", crossed(20 * n_levels, n_levels, 500)


def timed(function, *args):
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start


def old_condvar_seconds(model, limit: int) -> tuple[float, bool]:
    """The old solve's time: whole when q ≤ limit, else a slice of its chunks scaled up."""
    q = model.objective.layout.size
    if q <= limit:
        return timed(conditional_variance_blocks, model.objective, model.theta)[1], False
    objective, theta = model.objective, model.theta
    objective._factorize(theta)
    chunk, chunks = 512, 4
    Lambda_t = objective.layout.Lambda(theta).T.tocsc()
    start = time.perf_counter()
    for c in range(chunks):
        columns = np.arange(c * chunk, (c + 1) * chunk)
        E = np.zeros((q, chunk))
        E[columns, np.arange(chunk)] = 1.0
        objective.factor.solve_A(Lambda_t @ E)
    return (time.perf_counter() - start) * q / (chunk * chunks), True


def old_se_seconds(model, new: pd.DataFrame, rows: int) -> float:
    """The old per-row solves (dense q × rows right-hand sides) on ``rows`` rows, scaled."""
    part = new.iloc[:rows]
    X, matrices, codes = _predict_se._rows(model, part, True, False)
    equations = _predict_se._MixedModelEquations(model)
    Zt = _predict_se._random_effects_rows(model, matrices, codes).T.tocsc()
    seconds = timed(equations.solved_variance, X, Zt)[1]
    return seconds * len(new) / rows


def run(name: str, formula: str, data: pd.DataFrame, n_rows: int, old_max: int) -> dict:
    model, fit_s = timed(lmmpy.lmer, formula, data)
    _, condsd_s = timed(lambda: model.ranef_condsd)
    old_condsd_s, extrapolated = old_condvar_seconds(model, old_max)
    new = data.sample(n_rows, replace=True, random_state=3).reset_index(drop=True)
    _, se_s = timed(lambda: model.predict(new, se_fit=True))
    old_se_s = old_se_seconds(model, new, min(2000, n_rows))
    return {"case": name, "path": model.objective.path, "levels": max(model.ngroups.values()),
            "q": model.objective.layout.size, "n": model.nobs, "fit_s": fit_s,
            "condsd_s": condsd_s, "old_condsd_s": old_condsd_s,
            "old_condsd": "extrapolated" if extrapolated else "measured",
            "se_rows": n_rows, "se_fit_s": se_s, "old_se_fit_s (scaled)": old_se_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[20_000, 50_000])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--old-max", type=int, default=12_000,
                        help="largest q for which the old condsd solve is run whole")
    parser.add_argument("--cases", nargs="+", default=["slope", "crossed", "nested"])
    args = parser.parse_args()
    makers = {"slope": slope, "crossed": crossed_case, "nested": nested}
    rows = []
    warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
    for levels in args.levels:
        for case in args.cases:
            formula, data = makers[case](levels)
            rows.append(run(f"{case}-{levels}", formula, data, args.rows, args.old_max))
            print(pd.DataFrame(rows[-1:]).round(2).to_string(index=False), flush=True)
    print(pd.DataFrame(rows).round(2).to_string(index=False))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
