"""lmmpy's optimum against lme4's on the simulated optimizer suite (issue 11, item 1).

    .venv/bin/python benchmarks/bench_simulated_optima.py            # all 440 fits (~1 min)
    .venv/bin/python benchmarks/bench_simulated_optima.py --suite three --verbose
    .venv/bin/python benchmarks/bench_simulated_optima.py --path blocked   # BFGS; cholmod too

Fits every set of ``tests/data/simulated_optima/`` (drawn by
``tools/reference/make_simulated_optima.py``, lme4's fits by
``tools/reference/make_simulated_optima.R``) and compares the log-likelihood
with lme4's: *below* (ours lower by more than 1e-4: a worse optimum; must be
0), *better* (higher by more than 1e-4; then our objective at lme4's θ is
checked to be within 1e-6 of lme4's, so the gain is real and not a different
objective), *equal* (within 1e-4).  Also counts our ConvergenceWarnings and
prints the time of the fits (``lmmpy.lmer``, design included).  ``--path`` forces
a factorization, and with it the optimizer (dense: Newton, blocked: BFGS,
cholmod: BFGS when its gradient fits in memory, else BOBYQA); the fits then time
the optimizer only.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import lmmpy
from lmmpy._conditioned import ConditionedObjective, minimize_conditioned
from lmmpy._warnings import ConvergenceWarning
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "simulated_optima"
TOLERANCE = 1e-4


def load_suite() -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """The sets (with lme4's results joined) and each set's data frame."""
    sets = pd.read_csv(DATA / "sets.csv").merge(pd.read_csv(DATA / "lme4.csv"), on="set")
    data = pd.read_csv(DATA / "data.csv.gz")
    data["g"] = "g" + data["g"].astype(str)
    frames = {int(key): frame.reset_index(drop=True) for key, frame in data.groupby("set")}
    return sets, frames


def lme4_theta(row: pd.Series) -> np.ndarray:
    values = np.array([row[f"theta_{i}"] for i in range(1, 7)], dtype=float)
    return values[np.isfinite(values)]


class _Optimum:
    """What :func:`compare` needs of a fit made on a forced path."""

    def __init__(self, objective, summary):
        self.objective, self.loglik = objective, -summary.objective / 2
        self.is_singular = bool(np.any(summary.theta[summary.lower == 0] == 0))


def fit(row: pd.Series, frame: pd.DataFrame, path: str | None = None):
    """Our fit of one set (``lmmpy.lmer``, or the optimizer on a forced path), with the
    ConvergenceWarnings it raised, and its time."""
    weights = "w" if row["weighted"] else None
    design = None if path is None else build_design(parse_formula(row["formula"]), frame,
                                                    weights=weights)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        if path is None:
            model = lmmpy.lmer(row["formula"], frame, reml=bool(row["reml"]), weights=weights)
        else:
            objective = ProfiledDeviance(cross_products(design), design.terms,
                                         bool(row["reml"]), _path=path)
            model = _Optimum(objective, minimize_conditioned(
                objective, ConditionedObjective.of(design, objective)))
        seconds = time.perf_counter() - started
    return model, [w for w in caught if issubclass(w.category, ConvergenceWarning)], seconds


def compare(row: pd.Series, model) -> str:
    """'below', 'better' or 'equal' (see the module docstring); 'objective differs' when
    our objective at lme4's θ is not lme4's."""
    difference = model.loglik - row["loglik"]
    if difference < -TOLERANCE:
        return "below"
    if difference <= TOLERANCE:
        return "equal"
    at_lme4 = float(model.objective(lme4_theta(row)))
    return "better" if abs(at_lme4 - row["objective"]) < 1e-6 * max(1.0, abs(at_lme4)) \
        else "objective differs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=["slope", "three"], help="only this suite")
    parser.add_argument("--path", choices=["dense", "blocked", "cholmod"],
                        help="force this factorization (and its optimizer)")
    parser.add_argument("--verbose", action="store_true", help="print every fit not equal or warned")
    args = parser.parse_args()
    sets, frames = load_suite()
    if args.suite:
        sets = sets[sets["suite"] == args.suite]
    counts: dict[str, int] = {}
    warned, seconds = 0, 0.0
    for _, row in sets.iterrows():
        model, caught, fit_seconds = fit(row, frames[int(row["set"])], args.path)
        seconds += fit_seconds
        outcome = compare(row, model)
        counts[outcome] = counts.get(outcome, 0) + 1
        warned += bool(caught)
        if args.verbose and (outcome != "equal" or caught):
            print(f"set {row['set']:3d} ({row['suite']} seed {row['seed']}): {outcome}, "
                  f"loglik {model.loglik:.6f} vs lme4 {row['loglik']:.6f}, "
                  f"singular {model.is_singular}/{row['singular']}, warned {bool(caught)}")
    print(f"{len(sets)} fits in {seconds:.1f} s ({1000 * seconds / len(sets):.1f} ms a fit)")
    print(f"below lme4's optimum by > {TOLERANCE:g}: {counts.get('below', 0)}")
    print(f"better than lme4 by > {TOLERANCE:g} (checked at lme4's θ): {counts.get('better', 0)}")
    print(f"equal within {TOLERANCE:g}: {counts.get('equal', 0)}")
    if counts.get("objective differs"):
        print(f"better, but our objective at lme4's θ is not lme4's: {counts['objective differs']}")
    print(f"fits with a ConvergenceWarning: {warned} (lme4: {int(sets['warned'].sum())})")


if __name__ == "__main__":
    main()
