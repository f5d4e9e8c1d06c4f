"""lme4's optimum or better on simulated data sets (issue 11, item 1): a fast subset of the
suite in ``tests/data/simulated_optima`` (the whole suite: benchmarks/bench_simulated_optima.py).

The subset is the sets where the optimizer used to stop below lme4's optimum — on the
boundary, singular, where lme4 finds an interior optimum or a better singular one — and a
few where it is above lme4's (then our objective at lme4's θ must be lme4's, so the gain
is real, not a different objective).
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy._conditioned import ConditionedObjective, minimize_conditioned
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products

DATA = Path(__file__).parent / "data" / "simulated_optima"
TOLERANCE = 1e-4
HARD = [222, 225, 250, 251, 259, 270, 274, 276, 305, 306, 312, 314, 316,      # (x | g)
        322, 324, 325, 334, 355, 357, 358, 372, 375, 381, 383, 384, 385, 387,  # (1 + x + z | g)
        392, 396, 398, 400, 401, 404, 405, 407, 413, 419, 421, 427, 435]
ABOVE_LME4 = [223, 263, 303, 315, 332, 367]
# below lme4's optimum until the optimizer worked on centred, scaled random-effects columns
# (x = 500 ± 100) and BFGS restarted where a failed check was confirmed (10, 134)
UNCENTRED = [19, 27, 107, 115, 219, 255]
# below lme4's optimum (by 19-33 in log-likelihood, warned) while projected Newton refused
# its negative-curvature steps out of a saddle (they promise nothing to first order)
SADDLE = [67, 351, 379, 394]
PATH_HARD = [*UNCENTRED, 10, 134, *SADDLE]


@functools.cache
def _suite() -> tuple[pd.DataFrame, pd.DataFrame]:
    sets = pd.read_csv(DATA / "sets.csv").merge(pd.read_csv(DATA / "lme4.csv"), on="set")
    data = pd.read_csv(DATA / "data.csv.gz")
    data["g"] = "g" + data["g"].astype(str)
    return sets.set_index("set"), data


def _fit(set_id: int):
    sets, data = _suite()
    row = sets.loc[set_id]
    frame = data[data["set"] == set_id].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lmmpy.lmer(row["formula"], frame, reml=bool(row["reml"]),
                           weights="w" if row["weighted"] else None)
    theta = row[[f"theta_{i}" for i in range(1, 7)]].to_numpy(dtype=float)
    return model, row, theta[np.isfinite(theta)]


@pytest.mark.parametrize("set_id", HARD + ABOVE_LME4 + UNCENTRED + SADDLE)
def test_no_fit_is_below_lme4s_optimum(set_id):
    model, row, lme4_theta = _fit(set_id)
    assert model.loglik >= row["loglik"] - TOLERANCE
    if model.loglik > row["loglik"] + TOLERANCE:     # a better optimum: prove it
        at_lme4 = float(model.objective(lme4_theta))
        assert at_lme4 == pytest.approx(row["objective"], rel=1e-9)
        assert model.optimization.objective < at_lme4 - 2 * TOLERANCE


def test_issue_11s_reproducer_reaches_lme4s_interior_optimum():
    model, row, _ = _fit(357)                         # the issue's generator, seed 37
    assert row["seed"] == 37 and not row["singular"]
    assert model.loglik == pytest.approx(row["loglik"], abs=1e-5)
    assert not model.is_singular


@pytest.mark.parametrize("path", ["dense", "blocked", "cholmod"])
@pytest.mark.parametrize("set_id", PATH_HARD)
def test_every_factorization_reaches_lme4s_optimum_without_a_warning(set_id, path):
    sets, data = _suite()
    row = sets.loc[set_id]
    frame = data[data["set"] == set_id].reset_index(drop=True)
    design = build_design(parse_formula(row["formula"]), frame,
                          weights="w" if row["weighted"] else None)
    objective = ProfiledDeviance(cross_products(design), design.terms, bool(row["reml"]),
                                 _path=path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", lmmpy.ConvergenceWarning)
        summary = minimize_conditioned(objective, ConditionedObjective.of(design, objective))
    assert -summary.objective / 2 >= row["loglik"] - TOLERANCE
    assert summary.objective == pytest.approx(objective(summary.theta), abs=1e-9)
