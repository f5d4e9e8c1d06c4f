"""lme4's numbers on 36 simulated data sets written the way users write them (issue 11:
"the same checks also run on cases you have not seen").

The sets (``tools/reference/make_unseen_trust.R``, lme4 1.1-31) combine what went wrong
silently before: columns named like formula functions and contrasts (``log``, ``center``,
``scale``, ``C``, ``poly``, ``Treatment`` …) as grouping factors, ordered and unordered
fixed factors and covariates; missing values in them; a covariate far from centred
(1e3, 1e6) with and without a random slope; a response shifted by up to 1e9; crossed
terms; REML and ML; predictions with a new level and a missing covariate, with all
random effects and none.  What must hold on every set: the same rows used; a
log-likelihood at least lme4's (a higher one proven with our objective at lme4's θ);
where the optima agree, the fixed effects and predictions agree.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmpy

DATA = Path(__file__).parent / "data" / "unseen_trust"
TOLERANCE = 1e-4


@functools.cache
def _sets() -> dict[int, dict]:
    return {case["set"]: case for case in json.loads((DATA / "sets.json").read_text())}


@functools.cache
def _long() -> pd.DataFrame:
    return pd.read_csv(DATA / "data.csv.gz", dtype={"g": str, "f": str, "site": str})


def _typed(frame: pd.DataFrame, case: dict) -> pd.DataFrame:
    frame = frame.copy()
    frame[case["factor"]] = pd.Categorical(frame[case["factor"]],
                                           categories=case["factor_levels"],
                                           ordered=case["ordered"])
    return frame


def _frame(case: dict) -> pd.DataFrame:
    rows = _long()[_long()["set"] == case["set"]]
    if "site" not in case["groups"]:
        rows = rows.drop(columns="site")
    rows = rows.drop(columns="set").rename(
        columns={"g": case["group"], "f": case["factor"], "x": case["covariate"]})
    return _typed(rows.reset_index(drop=True), case)


@functools.cache
def _fit(set_id: int) -> lmmpy.LinearMixedModel:
    case = _sets()[set_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        warnings.simplefilter("error", lmmpy.ConvergenceWarning)
        warnings.simplefilter("ignore", lmmpy.ScaleWarning)   # sets 2 and 14: x = 1e6 ± 1
        return lmmpy.lmer(case["formula"], _frame(case), reml=case["REML"])


def _our_name(r_name: str, case: dict) -> str:
    """R's coefficient name in lmmpy's (formulaic's) spelling: ``fb`` → ``f[T.b]``,
    ``f.L`` → ``f[.L]``."""
    factor = case["factor"]
    if r_name.startswith(factor) and r_name != factor:
        rest = r_name[len(factor):]
        return f"{factor}[{rest}]" if rest.startswith(".") else f"{factor}[T.{rest}]"
    return r_name


def _lme4_fits(case: dict) -> list[dict]:
    """lme4's fits of the set: on the data as given and on the covariate centred (the same
    model; recorded unless the covariate is in a ``||`` term), each with its exact
    criterion: the centred fit's own, the as-given fit's recomputed on centred data
    (``exact_objective_at_theta``: lme4's value at that θ loses digits on uncentred
    columns)."""
    as_given = dict(case["as_given"])
    if case["exact_objective_at_theta"] is not None:
        as_given["objective"] = case["exact_objective_at_theta"]
    return [as_given] + ([case["centred"]] if case["centred"] else [])


def _best_lme4_fit(case: dict) -> dict:
    return min(_lme4_fits(case), key=lambda fit: fit["objective"])


def _exact_objective(model, theta: np.ndarray) -> float:
    """Our criterion at θ, on the centred, scaled random-effects columns where the fit
    made it (exact whatever the columns' location; the design's own otherwise)."""
    conditioned = model.conditioned_objective
    if conditioned.deviance is None:
        return float(model.objective(theta))
    return float(conditioned.deviance(conditioned.to_conditioned(theta)))


def _at_lme4s_optimum(model, case) -> bool:
    best = _best_lme4_fit(case)["objective"]
    return abs(model.optimization.objective - best) <= 2 * TOLERANCE


SETS = sorted(_sets())


@pytest.mark.parametrize("set_id", SETS)
def test_the_optimum_is_lme4s_or_provably_better(set_id):
    case, model = _sets()[set_id], _fit(set_id)
    assert model.nobs == case["n_obs"]
    as_given = _lme4_fits(case)[0]
    ours_at_lme4 = _exact_objective(model, np.array(as_given["theta"], dtype=float))
    assert ours_at_lme4 == pytest.approx(as_given["objective"], rel=1e-8, abs=1e-6)  # one criterion
    best = _best_lme4_fit(case)["objective"]
    assert model.optimization.objective <= best + 2 * TOLERANCE    # loglik ≥ lme4's best − 1e-4
    assert model.loglik == pytest.approx(-model.optimization.objective / 2, abs=1e-12)


@pytest.mark.parametrize("set_id", SETS)
def test_fixed_effects_agree_where_the_optima_agree(set_id):
    case, model = _sets()[set_id], _fit(set_id)
    if not _at_lme4s_optimum(model, case):
        pytest.skip("a better optimum than lme4's (proven in the test above)")
    best = _best_lme4_fit(case)
    expected = pd.Series(best["fixef"]).rename(lambda name: _our_name(name, case))
    assert list(model.fixef.index) == list(expected.index)
    # the estimates agree to a small fraction of their standard errors (the intercept of a
    # response shifted by 1e9 is known to 1e-7 of its size, its SE is what it is)
    np.testing.assert_array_less(np.abs(model.fixef - expected).to_numpy(),
                                 (2e-3 * model.fixef_se + 1e-9).to_numpy())
    assert model.sigma == pytest.approx(best["sigma"], rel=1e-3)


@pytest.mark.parametrize("re_form", ["all", "none"])
@pytest.mark.parametrize("set_id", SETS)
def test_predictions_with_a_new_level_and_a_missing_covariate(set_id, re_form):
    case, model = _sets()[set_id], _fit(set_id)
    if not _at_lme4s_optimum(model, case):
        pytest.skip("a better optimum than lme4's")
    rows = _typed(pd.DataFrame([{k: (np.nan if v is None else v) for k, v in row.items()}
                                for row in case["prediction_rows"]]), case)
    expected = np.array([np.nan if v is None else v
                         for v in _best_lme4_fit(case)[f"predict_{re_form}"]])
    predicted = model.predict(rows, re_form=None if re_form == "all" else False,
                              allow_new_levels=True).to_numpy()
    assert np.isnan(predicted[5]) and np.isnan(expected[5])   # R's na.pass: NA in, NA out
    np.testing.assert_allclose(predicted, expected, rtol=0, atol=2e-3 * model.sigma)
