"""glmer on random slopes of covariates far from centred (x = 500, 1e4 ± 1..100): the
optimum of lme4's fit on x centred — the same model, which lme4 fits well — or better,
whatever the location of x (``tools/reference/make_glmm_uncentred.R``; lme4 on x as
given ends up to 25 log-likelihood units lower, or fails).  Before lmmpy's optimizer
worked on centred, scaled columns it ended up to 5,000 units lower, or raised NLopt's
RoundoffLimited."""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

import lmmpy

DATA = Path(__file__).parents[1] / "data" / "glmm_uncentred"
TOLERANCE = 1e-4


@functools.cache
def _sets() -> dict[int, dict]:
    return {case["set"]: case for case in json.loads((DATA / "sets.json").read_text())}


@functools.cache
def _fit(set_id: int):
    case = _sets()[set_id]
    data = pd.read_csv(DATA / "data.csv.gz")
    frame = data[data["set"] == set_id].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        warnings.simplefilter("error", lmmpy.ConvergenceWarning)
        return lmmpy.glmer("y ~ x + (x | g)", frame, family=case["family"])


@pytest.mark.parametrize("set_id", sorted(_sets()))
def test_the_optimum_of_lme4s_centred_fit_or_better(set_id):
    case, model = _sets()[set_id], _fit(set_id)
    assert model.nobs == case["n_obs"]
    best = max(case["centred"]["loglik"], case["as_given"].get("loglik", -float("inf")))
    assert model.loglik >= best - TOLERANCE
    if model.loglik <= case["centred"]["loglik"] + TOLERANCE:   # the same optimum
        centred = case["centred"]
        assert model.fixef["x"] == pytest.approx(centred["fixef"]["x"],
                                                 abs=2e-3 * centred["slope_se"])
        if not centred["messages"]:   # lme4's SEs where lme4 trusts its own fit
            assert model.fixef_se["x"] == pytest.approx(centred["slope_se"], rel=5e-3)


@pytest.mark.parametrize("set_id", sorted(_sets()))
def test_the_fit_does_not_depend_on_the_location_and_scale_of_x(set_id):
    case, model = _sets()[set_id], _fit(set_id)
    data = pd.read_csv(DATA / "data.csv.gz")
    frame = data[data["set"] == set_id].reset_index(drop=True)
    sd = frame["x"].std()
    frame["x"] = (frame["x"] - frame["x"].mean()) / sd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        standard = lmmpy.glmer("y ~ x + (x | g)", frame, family=case["family"])
    assert model.loglik == pytest.approx(standard.loglik, abs=1e-5)
    assert model.fixef["x"] * sd == pytest.approx(standard.fixef["x"], rel=1e-3)
    assert model.fixef_se["x"] * sd == pytest.approx(standard.fixef_se["x"], rel=2e-3)
