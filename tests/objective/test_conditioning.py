"""A response or a fixed-effect column shifted by a constant gives the same fit (issue 11, 4).

The cross-products are of the conditioned [X̃ ỹ] (``_crossprod``): the fit of
``Reaction + c`` must equal the fit of ``Reaction`` — θ, σ and the
log-likelihood unchanged, the intercept moved by c — on every factorization
path, with weights and an offset, for a crossed and a nested model, through
``refit`` and through the consumers of the solution (vcov, Satterthwaite,
Kenward–Roger, the profile).  Before the conditioning, ``+ 1e8`` moved the ML
log-likelihood by +0.64, ``+ 1e9`` by +116 and ``+ 1.7e9`` failed.

Tolerances (relative to the unshifted fit): at the same θ, the objective, σ
and β 1e-9 (plus the spacing of the shifted values, which is all the shifted
data carry: ``249.56 + 1.7e9`` is stored to ±1.2e-7); the fitted θ and σ 1e-6
(the optimizer's precision: on the CHOLMOD path, without a Hessian, it stops
1e-6 apart on Penicillin), the maximised log-likelihood 1e-9.  We reach ~1e-9
on θ and ~1e-11 on the log-likelihood on sleepstudy; lme4 (tests/data/conditioning,
``tools/reference/make_shifted.R``) reaches 3e-11 on the log-likelihood and
2e-5 on θ (its optimizer's tolerance), and on ``t = Days + 1e6`` its REML
log-likelihood is 3.3e-4 above the maximum, which the test proves below.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import lmmpy
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products
from lmmpy.optimize import minimize_deviance
from lmmpy.results import LinearMixedModel

LME4 = json.loads((Path(__file__).parents[1] / "data" / "conditioning"
                   / "lme4_shifted.json").read_text())["fits"]
SHIFTS = [0.0, 1e4, 1e8, 1e9, 1.7e9]
PATHS = ["dense", "blocked", "cholmod"]
SLEEP = "Reaction ~ Days + (Days | Subject)"


def _fit(formula, data, reml, path=None, weights=None, offset=None) -> LinearMixedModel:
    """The whole fit (as ``lmer``) on a chosen factorization path."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        design = build_design(parse_formula(formula), data, weights=weights, offset=offset)
        objective = ProfiledDeviance(cross_products(design), design.terms, reml, _path=path)
        summary = minimize_deviance(objective, design.theta_start(),
                                    design.theta_lower_bounds(), em_start=True)
        return LinearMixedModel(design, objective, summary, objective.solve(summary.theta),
                                reml, None)


def _assert_same_fit(shifted, base, intercept_shift=0.0, location=0.0):
    """The same objective, solution and optimum; the intercept moved by ``intercept_shift``.

    At base's θ̂ the two objectives and solutions agree to 1e-9 (``location``, the
    size of the shifted values, bounds what the shifted data carry: 4 spacings of
    it for β̂ and b̂).  The fitted θ̂ agree to the optimizer's precision (1e-6), and so
    does σ̂, which moves with θ̂ to first order.
    """
    theta = base.theta
    assert shifted.objective(theta) == pytest.approx(base.solution.deviance, rel=1e-9)
    at_theta = shifted.objective.solve(theta)
    assert at_theta.sigma == pytest.approx(base.sigma, rel=1e-9)
    expected = base.solution.beta.copy()
    expected[0] += intercept_shift
    carried = 4 * np.spacing(location) + 1e-12
    tolerance = 1e-9 * np.abs(base.solution.beta) + carried
    assert np.all(np.abs(at_theta.beta - expected) <= tolerance), at_theta.beta - expected
    np.testing.assert_allclose(at_theta.b, base.solution.b, rtol=1e-7,
                               atol=1e-9 * np.abs(base.solution.b).max() + carried)
    np.testing.assert_allclose(shifted.theta, theta, rtol=1e-6, atol=1e-8)
    assert shifted.sigma == pytest.approx(base.sigma, rel=1e-6)
    assert shifted.loglik == pytest.approx(base.loglik, rel=1e-9, abs=1e-9)


@pytest.fixture(scope="module")
def sleepstudy():
    return lmmpy.datasets.load("sleepstudy")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("shift", SHIFTS)
def test_shifted_response_gives_the_same_fit(sleepstudy, shift, reml, path):
    base = _fit(SLEEP, sleepstudy, reml, path)
    shifted = _fit(SLEEP, sleepstudy.assign(Reaction=sleepstudy.Reaction + shift), reml, path)
    assert shifted.objective.path == path
    _assert_same_fit(shifted, base, shift, shift)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("shift", SHIFTS)
def test_shifted_response_matches_lme4(sleepstudy, shift, reml):
    """Our shifted fit has lme4's unshifted log-likelihood, and is never below lme4's shifted
    fit (lme4's own error there is at most 3e-8)."""
    m = lmmpy.lmer(SLEEP, sleepstudy.assign(Reaction=sleepstudy.Reaction + shift), reml=reml)
    lme4 = {(f["shift_y"], f["REML"]): f for f in LME4 if f["label"] == "response"}
    assert m.loglik == pytest.approx(lme4[0, reml]["logLik"], abs=1e-7)
    assert m.loglik >= lme4[shift, reml]["logLik"] - 1e-7


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("label", "location", "scale"),
                         [("predictor", 1e6, 1.0), ("timestamp", 1.7e9, 86400.0)])
def test_shifted_predictor_gives_the_same_fit(sleepstudy, label, location, scale, reml, path):
    """t = location + scale·Days in X (the random slope stays on Days): the fit of Days,
    β_t = β_Days / scale; the REML log-likelihood moves by exactly −log(scale) (log|R_X|)."""
    base = _fit(SLEEP, sleepstudy, reml, path)
    m = _fit("Reaction ~ t + (Days | Subject)",
             sleepstudy.assign(t=location + scale * sleepstudy.Days), reml, path)
    np.testing.assert_allclose(m.theta, base.theta, rtol=1e-6, atol=1e-8)
    assert m.sigma == pytest.approx(base.sigma, rel=1e-8)
    moved = -np.log(scale) if reml else 0.0
    assert m.loglik == pytest.approx(base.loglik + moved, rel=1e-9)
    slope = base.solution.beta[1] / scale
    assert m.solution.beta[1] == pytest.approx(slope, rel=1e-8)
    intercept = base.solution.beta[0] - location * slope
    assert m.solution.beta[0] == pytest.approx(intercept, rel=1e-8, abs=1e-8 * location)
    lme4 = next(f for f in LME4 if f["label"] == label and f["REML"] == reml)
    lme4_base = next(f for f in LME4 if f["label"] == "response" and f["REML"] == reml
                     and f["shift_y"] == 0)
    # the model is Days's: lme4's unshifted optimum is the target; where lme4's shifted fit
    # is above it (REML: by 3.3e-4 for Days + 1e6, 1.7e-7 for the timestamp), lme4 is wrong
    target = lme4_base["logLik"] + moved
    assert m.loglik == pytest.approx(target, abs=1e-7)
    assert m.loglik >= lme4["logLik"] - 1e-7 or lme4["logLik"] > target + 1e-7

def test_timestamp_without_spread_is_dropped_as_lme4_drops_it(sleepstudy):
    """Days + 1.7e9 is aliased with the intercept to R's tolerance (1e-7): dropped by both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = lmmpy.lmer("Reaction ~ t + (Days | Subject)",
                       sleepstudy.assign(t=sleepstudy.Days + 1.7e9), reml=False)
    lme4 = next(f for f in LME4 if f["label"] == "predictor" and f["shift_x"] == 1.7e9
                and not f["REML"])
    assert lme4["dropped"] and list(m.fixef.index) == ["(Intercept)"]
    assert m.loglik >= lme4["logLik"] - 1e-7


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shift", [1e8, 1.7e9])
def test_shifted_response_with_weights_and_offset(sleepstudy, shift, path):
    rng = np.random.default_rng(11)
    data = sleepstudy.assign(w=rng.uniform(0.5, 2.0, len(sleepstudy)),
                             o=rng.normal(0, 20, len(sleepstudy)))
    base = _fit(SLEEP, data, False, path, weights="w", offset="o")
    shifted = _fit(SLEEP, data.assign(Reaction=data.Reaction + shift), False, path,
                   weights="w", offset="o")
    _assert_same_fit(shifted, base, shift, shift)
    # an offset on the response's scale: y − offset is what is fitted
    moved = _fit(SLEEP, data.assign(Reaction=data.Reaction + shift, o=data.o + shift), False,
                 path, weights="w", offset="o")
    _assert_same_fit(moved, base, 0.0, shift)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize(("dataset", "formula", "response"), [
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", "diameter"),
    ("Pastes", "strength ~ 1 + (1 | batch / cask)", "strength"),
])
def test_crossed_and_nested_models(dataset, formula, response, reml, path):
    data = lmmpy.datasets.load(dataset)
    base = _fit(formula, data, reml, path)
    shifted = _fit(formula, data.assign(**{response: data[response] + 1.7e9}), reml, path)
    _assert_same_fit(shifted, base, 1.7e9, 1.7e9)


def test_refit_with_a_shifted_response_is_the_shifted_fit(sleepstudy):
    m = lmmpy.lmer(SLEEP, sleepstudy, reml=False)
    refitted = m.refit(sleepstudy.Reaction.to_numpy() + 1.7e9)
    _assert_same_fit(refitted, m, 1.7e9, 1.7e9)
    back = refitted.refit(sleepstudy.Reaction.to_numpy())
    _assert_same_fit(back, m)


@pytest.mark.parametrize("shift", [0.0, 1e9])
def test_cross_products_in_the_design_coordinates(sleepstudy, shift):
    """ZtX() and XtX() give Z'WX and X'WX of the design as it is; β̂, R_X likewise."""
    data = sleepstudy.assign(Reaction=sleepstudy.Reaction + shift, t=sleepstudy.Days + 1e6)
    design = build_design(parse_formula("Reaction ~ t + (Days | Subject)"), data)
    cp = cross_products(design)
    X, Z = design.X.values, design.Z.toarray()
    np.testing.assert_allclose(cp.ZtX(), Z.T @ X, rtol=1e-12)
    np.testing.assert_allclose(cp.XtX(), X.T @ X, rtol=1e-12)
    assert np.abs(cp.XytXy[0, 1:]).max() < 1e-6 * np.sqrt(cp.XytXy[0, 0] * len(X))  # centred
    m = lmmpy.lmer("Reaction ~ t + (Days | Subject)", data)
    residual = design.y - X @ m.solution.beta - Z @ m.solution.b
    pwrss = residual @ residual + m.solution.u @ m.solution.u
    assert m.solution.pwrss == pytest.approx(pwrss, rel=1e-9)
    assert np.allclose(np.tril(m.solution.R_X, -1), 0.0)


def test_profile_fixing_keeps_the_design_coordinates(sleepstudy):
    """Holding β_j fixed (the profile) on conditioned products: the ML fit with that
    column's contribution subtracted from y, for the intercept and for the slope."""
    m = lmmpy.lmer(SLEEP, sleepstudy.assign(Reaction=sleepstudy.Reaction + 1e9), reml=False)
    cp = m.objective.crossprods
    for j, value in [(0, 1e9 + 240.0), (1, 8.0)]:
        fixed = m.objective.with_crossprods(cp.fixing(j, value), reml=False)
        other = "Days" if j == 0 else "1"
        x = np.ones(len(sleepstudy)) if j == 0 else sleepstudy.Days.to_numpy()
        direct = _fit(f"r ~ 0 + {other} + (Days | Subject)",
                      sleepstudy.assign(r=sleepstudy.Reaction + 1e9 - value * x), False)
        theta = direct.theta
        assert fixed(theta) == pytest.approx(direct.solution.deviance, rel=1e-10)
        np.testing.assert_allclose(fixed.solve(theta).beta, direct.solution.beta, rtol=1e-9)


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
def test_inference_is_shift_invariant(sleepstudy, ddf):
    base = lmmpy.lmer(SLEEP, sleepstudy)
    shifted = lmmpy.lmer(SLEEP, sleepstudy.assign(Reaction=sleepstudy.Reaction + 1e9))
    np.testing.assert_allclose(shifted.vcov.to_numpy(), base.vcov.to_numpy(), rtol=1e-7)
    a, b = shifted.coefs(ddf), base.coefs(ddf)
    np.testing.assert_allclose(a["df"], b["df"], rtol=1e-6)
    np.testing.assert_allclose(a["std_error"], b["std_error"], rtol=1e-7)


def test_profile_interval_moves_with_the_shift(sleepstudy):
    base = lmmpy.lmer(SLEEP, sleepstudy, reml=False)
    shifted = lmmpy.lmer(SLEEP, sleepstudy.assign(Reaction=sleepstudy.Reaction + 1e9),
                         reml=False)
    a = shifted.confint(parm=["(Intercept)", "Days"]).to_numpy()
    b = base.confint(parm=["(Intercept)", "Days"]).to_numpy()
    np.testing.assert_allclose(a[1], b[1], rtol=1e-6)
    np.testing.assert_allclose(a[0] - 1e9, b[0], rtol=1e-6)
