"""nagq=0 (lme4's nAGQ = 0: θ optimised, β with u by PIRLS) against lme4 (tools/reference/
make_glmm_nagq0.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from reference import load_case, load_case_data

import lmmpy

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "glmm" / "nagq0.json").read_text())
CASES = {"cbpp": "cbpp_laplace", "epil": "epil_poisson"}


@pytest.fixture(scope="module", params=sorted(CASES))
def fit(request):
    case = load_case(CASES[request.param])
    model = lmmpy.glmer(case["formula"], load_case_data(case), case["family"], nagq=0)
    return model, REFERENCE[request.param]


def test_estimates(fit):
    model, expected = fit
    np.testing.assert_allclose(model.theta, [expected["theta"]], rtol=1e-3)
    np.testing.assert_allclose(model.fixef, expected["fixef"], rtol=1e-3)


def test_standard_errors_without_hessian(fit):
    model, expected = fit
    assert model.hessian is None
    np.testing.assert_allclose(model.fixef_se, expected["fixef_se"], rtol=5e-3)


def test_likelihood_not_below_lme4s(fit):
    model, expected = fit
    assert model.loglik >= expected["loglik"] - 1e-4
    assert model.loglik - expected["loglik"] < 1e-2
    assert model.deviance == pytest.approx(expected["deviance"], rel=1e-4)


def test_summary_names_nagq0(fit):
    assert "(Adaptive Gauss-Hermite Quadrature, nAGQ = 0)" in str(fit[0].summary())


@pytest.mark.parametrize("name", sorted(CASES))
def test_stage1_shortcuts_keep_the_optimum(name, monkeypatch):
    """The descent's PIRLS shortcuts (starts predicted from the modes' slopes, a looser
    tolerance far from the optimum and at the cold start) reach the optimum of the plain
    descent, in fewer PIRLS steps."""
    import lmmpy.glmm._optimize as optimize

    case = load_case(CASES[name])
    data = load_case_data(case)
    plain_pirls, steps = optimize.pirls, []

    def counted(*args, **kwargs):
        result = plain_pirls(*args, **kwargs)
        steps[-1] += result.iterations
        return result

    monkeypatch.setattr(optimize, "pirls", counted)
    fits = []
    for shortcuts in (True, False):
        if not shortcuts:
            monkeypatch.setattr(optimize, "FAR_GRADIENT", np.inf)
            monkeypatch.setattr(optimize.GlmmCriterion, "start_far", lambda self: None)
            monkeypatch.setattr(optimize.GlmmCriterion, "_predicted_start",
                                lambda self, theta, beta, u: ((beta, u), None))
        steps.append(0)
        fits.append(lmmpy.glmer(case["formula"], data, case["family"], nagq=0))
    shortcut, plain = fits
    assert shortcut.deviance_value == pytest.approx(plain.deviance_value, rel=1e-11, abs=0)
    np.testing.assert_allclose(shortcut.theta, plain.theta, rtol=1e-5)
    assert steps[0] < steps[1]


def _stage1_hessian(criterion, theta, step=1e-4):
    columns = []
    for j in range(len(theta)):
        moved = [theta.copy(), theta.copy()]
        moved[0][j] += step
        moved[1][j] -= step
        columns.append((criterion.stage1_value_and_gradient(moved[0])[1]
                        - criterion.stage1_value_and_gradient(moved[1])[1]) / (2 * step))
    return np.array(columns)


@pytest.mark.parametrize("name", sorted(CASES))
def test_stage1_information_is_close_to_the_hessian(name):
    """The first BFGS metric of stage 1 (the gradient's trace terms, fixed-weight expected
    information) is within a factor 1.5 of the criterion's curvature at the optimum."""
    from lmmpy.glmm._optimize import GlmmCriterion

    case = load_case(CASES[name])
    model = lmmpy.glmer(case["formula"], load_case_data(case), case["family"], nagq=0)
    criterion = GlmmCriterion(model.system, len(model.theta))
    theta = np.asarray(model.theta, dtype=float)
    criterion.stage1_value_and_gradient(theta)
    information = criterion.information(theta)
    hessian = _stage1_hessian(criterion, theta)
    assert information.shape == hessian.shape
    ratio = np.diag(information) / np.diag(hessian)
    assert np.all((ratio > 1 / 1.5) & (ratio < 1.5)), ratio
    assert criterion.information(theta + 0.1) is None   # only where the gradient was


def test_stage1_information_needs_scalar_terms():
    from lmmpy.glmm._optimize import GlmmCriterion

    data = lmmpy.datasets.load("sleepstudy")
    data["slow"] = (data["Reaction"] > data["Reaction"].median()).astype(int)
    model = lmmpy.glmer("slow ~ Days + (Days | Subject)", data, "binomial", nagq=0)
    criterion = GlmmCriterion(model.system, len(model.theta))
    theta = np.asarray(model.theta, dtype=float)
    criterion.stage1_value_and_gradient(theta)
    assert criterion.information(theta) is None   # the descent falls back on EM's metric


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_fresh_criterions_value_is_converged(name):
    """Only the descent's cold start is a far evaluation: the criterion asked once at a
    point gives the converged value (lme4's comparison tests evaluate it so)."""
    from lmmpy.glmm._optimize import HESSIAN_PIRLS_TOLERANCE, GlmmCriterion

    case = load_case(CASES[name])
    model = lmmpy.glmer(case["formula"], load_case_data(case), case["family"], nagq=0)
    theta = np.asarray(model.theta, dtype=float) * 1.3
    once = GlmmCriterion(model.system, len(model.theta)).stage1(theta)
    tight = GlmmCriterion(model.system, len(model.theta), pirls_tolerance=HESSIAN_PIRLS_TOLERANCE)
    assert once == pytest.approx(tight.value(tight.at_theta(theta)), rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("name", sorted(CASES))
def test_stage1_stops_before_a_step_promising_nothing(name, monkeypatch):
    """Stage 1 stops before a step whose predicted gain is below BFGS's own stopping
    decrease (1e-11 relative): the optimum of the descent that takes that step, to 1e-10,
    in fewer gradients."""
    import lmmpy.glmm._optimize as optimize

    case = load_case(CASES[name])
    data = load_case_data(case)
    plain_gradient, gradients = optimize.laplace_gradient, []

    def counted(*args, **kwargs):
        gradients[-1] += 1
        return plain_gradient(*args, **kwargs)

    monkeypatch.setattr(optimize, "laplace_gradient", counted)
    fits = []
    for promise in (optimize.STAGE1_PROMISE, {}):
        monkeypatch.setattr(optimize, "STAGE1_PROMISE", promise)
        gradients.append(0)
        fits.append(lmmpy.glmer(case["formula"], data, case["family"], nagq=0))
    stopped, plain = fits
    assert stopped.deviance_value == pytest.approx(plain.deviance_value, rel=1e-10, abs=0)
    assert stopped.deviance_value >= plain.deviance_value - 1e-9   # not a lower optimum
    assert gradients[0] < gradients[1]
