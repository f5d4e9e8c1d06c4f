"""lmer's and glmer's control objects (lmmpy.LmerControl, lmmpy.GlmerControl)."""

import dataclasses
import re
import warnings

import numpy as np
import pytest

import lmmpy
import lmmpy.glmm._optimize
from lmmpy._warnings import ConvergenceWarning, SingularFitWarning
from lmmpy.glmm._optimize import GlmmCriterion

SLEEP = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def sleep():
    return lmmpy.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def cbpp():
    return lmmpy.datasets.load("cbpp")


@pytest.fixture(scope="module")
def default_fit(sleep):
    return lmmpy.lmer(SLEEP, sleep)


@pytest.fixture(scope="module")
def default_glmm(cbpp):
    return lmmpy.glmer(CBPP, cbpp)


def test_the_default_control_is_the_fit_without_one(sleep, default_fit, cbpp, default_glmm):
    with_control = lmmpy.lmer(SLEEP, sleep, control=lmmpy.LmerControl())
    assert with_control.reml_criterion == default_fit.reml_criterion
    assert with_control.optimization.n_evaluations == default_fit.optimization.n_evaluations
    glmm = lmmpy.glmer(CBPP, cbpp, control=lmmpy.GlmerControl())
    assert glmm.loglik == default_glmm.loglik
    np.testing.assert_array_equal(glmm.fixef, default_glmm.fixef)


@pytest.mark.parametrize("optimizer, factorization, name", [
    ("newton", "dense", "projected Newton (analytic Hessian)"),
    ("bfgs", "dense", "projected BFGS (analytic gradient)"),
    ("bfgs", "blocked", "projected BFGS (analytic gradient)"),
    ("bobyqa", "dense", "bobyqa (NLopt)"),
    ("bobyqa", "cholmod", "bobyqa (NLopt)"),
    ("auto", "blocked", "projected BFGS (analytic gradient)"),
    ("bfgs", "cholmod", "projected BFGS (analytic gradient)"),   # a selected inverse
    ("auto", "cholmod", "projected BFGS (analytic gradient)"),
])
def test_lmer_takes_the_optimizer_and_factorization(sleep, default_fit, optimizer,
                                                    factorization, name):
    control = lmmpy.LmerControl(optimizer=optimizer, factorization=factorization)
    model = lmmpy.lmer(SLEEP, sleep, control=control)
    assert model.optimization.optimizer == name
    assert model.objective.path == factorization
    assert model.reml_criterion == pytest.approx(default_fit.reml_criterion, abs=1e-6)


def test_lmer_tolerances_and_evaluations_reach_the_optimizer(sleep, default_fit):
    few = lmmpy.lmer(SLEEP, sleep, control=lmmpy.LmerControl(
        optimizer="bobyqa", max_evaluations=8, check_convergence=False))
    assert few.optimization.n_evaluations <= 12   # 8, and the boundary snap's few
    assert "maximum number of evaluations" in few.optimization.return_message
    assert few.reml_criterion > default_fit.reml_criterion + 1e-3
    loose = lmmpy.lmer(SLEEP, sleep, control=lmmpy.LmerControl(optimizer="bobyqa", ftol_abs=1.0,
                                                               check_convergence=False))
    tight = lmmpy.lmer(SLEEP, sleep, control=lmmpy.LmerControl(optimizer="bobyqa"))
    assert loose.optimization.n_evaluations < tight.optimization.n_evaluations


def test_lmer_convergence_checks_can_be_left_out(sleep):
    """The checks' derivatives at θ̂ (lme4's checkConv) are made only when asked for."""
    checked = lmmpy.lmer(SLEEP, sleep, control=lmmpy.LmerControl(optimizer="bobyqa"))
    unchecked = lmmpy.lmer(SLEEP, sleep, control=lmmpy.LmerControl(optimizer="bobyqa",
                                                                   check_convergence=False))
    assert checked.optimization.gradient.shape == (3,)
    assert checked.optimization.hessian.shape == (3, 3)
    assert unchecked.optimization.gradient.shape == (0,)
    assert unchecked.optimization.n_evaluations < checked.optimization.n_evaluations
    assert unchecked.reml_criterion == pytest.approx(checked.reml_criterion, abs=1e-6)


def test_singular_fit_warning_can_be_left_out():
    data = lmmpy.datasets.load("Dyestuff2")
    with pytest.warns(SingularFitWarning):
        lmmpy.lmer("Yield ~ 1 + (1 | Batch)", data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SingularFitWarning)
        model = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", data,
                           control=lmmpy.LmerControl(check_singular=False))
    assert model.is_singular


def test_an_optimizer_the_factorization_cannot_give(sleep):
    control = lmmpy.LmerControl(optimizer="newton", factorization="blocked")
    with pytest.raises(ValueError, match="optimizer='newton' needs the analytic Hessian, which "
                                         "the blocked factorization"):
        lmmpy.lmer(SLEEP, sleep, control=control)
    with pytest.raises(ValueError, match="optimizer='newton' needs the analytic Hessian"):
        lmmpy.lmer(SLEEP, sleep, control=lmmpy.LmerControl(optimizer="newton",
                                                           factorization="cholmod"))


@pytest.mark.parametrize("factorization", ["dense", "blocked", "cholmod"])
def test_glmer_takes_the_factorization(cbpp, default_glmm, factorization):
    model = lmmpy.glmer(CBPP, cbpp, control=lmmpy.GlmerControl(factorization=factorization))
    assert model.system.objective_at(None).path == factorization
    assert model.loglik == pytest.approx(default_glmm.loglik, abs=1e-7)


def test_glmer_nelder_mead_reaches_the_same_optimum(cbpp, default_glmm):
    model = lmmpy.glmer(CBPP, cbpp, control=lmmpy.GlmerControl(optimizer="nelder_mead"))
    assert model.loglik == pytest.approx(default_glmm.loglik, abs=1e-7)
    assert model.optimization.n_evaluations != default_glmm.optimization.n_evaluations


def test_glmer_without_the_nagq0_stage(cbpp, default_glmm):
    model = lmmpy.glmer(CBPP, cbpp, control=lmmpy.GlmerControl(nagq0_init=False))
    assert len(model.optimization.return_codes) == 1
    assert len(default_glmm.optimization.return_codes) == 2
    np.testing.assert_array_equal(model.optimization.stage1_theta,
                                  model.system.design.theta_start())
    assert model.loglik == pytest.approx(default_glmm.loglik, abs=1e-7)


def test_glmer_pirls_tolerance_and_evaluations(cbpp, default_glmm, monkeypatch):
    tolerances = set()
    pirls = lmmpy.glmm._optimize.pirls

    def spy(*args, **kwargs):
        tolerances.add(args[-1])
        return pirls(*args, **kwargs)

    monkeypatch.setattr(lmmpy.glmm._optimize, "pirls", spy)
    loose = lmmpy.glmer(CBPP, cbpp, control=lmmpy.GlmerControl(pirls_tolerance=0.5))
    monkeypatch.undo()
    # PIRLS ran to the control's tolerance, the Hessian's evaluations to their own
    assert tolerances == {0.5, lmmpy.glmm._optimize.HESSIAN_PIRLS_TOLERANCE}
    parameters = default_glmm.optimization.parameters
    iterations = {tolerance: GlmmCriterion(loose.system, 1, 1, tolerance).at(parameters)
                  .iterations for tolerance in (0.5, default_glmm.control.pirls_tolerance)}
    assert iterations[0.5] < iterations[default_glmm.control.pirls_tolerance]
    with pytest.warns(ConvergenceWarning, match="maximum number of evaluations"):
        few = lmmpy.glmer(CBPP, cbpp, control=lmmpy.GlmerControl(max_evaluations=3))
    # each stage stops after 3 descent evaluations (+ BFGS's first curvature, 1 + n_params
    # gradients, and the state at the point returned)
    assert few.optimization.n_evaluations < default_glmm.optimization.n_evaluations
    assert few.loglik < default_glmm.loglik


@pytest.mark.parametrize("kind, kwargs, message", [
    (lmmpy.LmerControl, dict(optimizer="nelder_mead"),
     "optimizer must be one of 'auto', 'newton', 'bfgs', 'bobyqa', not 'nelder_mead'"),
    (lmmpy.LmerControl, dict(factorization="sparse"),
     "factorization must be one of 'auto', 'dense', 'blocked', 'cholmod', 'stochastic', "
     "not 'sparse'"),
    (lmmpy.GlmerControl, dict(factorization="sparse"),
     "factorization must be one of 'auto', 'dense', 'blocked', 'cholmod', not 'sparse'"),
    (lmmpy.LmerControl, dict(xtol_rel=-1.0), "xtol_rel must be a finite number of 0 or more"),
    (lmmpy.LmerControl, dict(ftol_abs=float("nan")), "ftol_abs must be a finite number"),
    (lmmpy.LmerControl, dict(xtol_abs="1e-8"), "xtol_abs must be a finite number"),
    (lmmpy.LmerControl, dict(max_evaluations=0), "max_evaluations must be a positive integer"),
    (lmmpy.LmerControl, dict(max_evaluations=2.5), "max_evaluations must be a positive integer"),
    (lmmpy.GlmerControl, dict(optimizer="newton"),
     "optimizer must be one of 'auto', 'bfgs', 'bobyqa', 'nelder_mead', not 'newton'"),
    (lmmpy.GlmerControl, dict(pirls_tolerance=-1e-3), "pirls_tolerance must be a finite number"),
    (lmmpy.GlmerControl, dict(max_evaluations=True), "max_evaluations must be a positive"),
])
def test_bad_control_values(kind, kwargs, message):
    with pytest.raises(ValueError, match=message):
        kind(**kwargs)


@pytest.mark.parametrize("kind, name", [(lmmpy.LmerControl, "check_convergence"),
                                        (lmmpy.LmerControl, "check_singular"),
                                        (lmmpy.GlmerControl, "nagq0_init")])
def test_flags_are_booleans(kind, name):
    with pytest.raises(TypeError, match=f"{name} must be True or False, not 'yes'"):
        kind(**{name: "yes"})


def test_numpy_numbers_are_accepted():
    control = lmmpy.LmerControl(max_evaluations=np.int64(50), xtol_rel=np.float64(1e-6))
    assert control.max_evaluations == 50


def test_a_control_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        lmmpy.LmerControl().optimizer = "bobyqa"


def test_the_wrong_control_type(sleep, cbpp):
    with pytest.raises(TypeError, match=re.escape(
            "control of lmer() must be an lmmpy.LmerControl, not GlmerControl")):
        lmmpy.lmer(SLEEP, sleep, control=lmmpy.GlmerControl())
    with pytest.raises(TypeError, match=re.escape(
            "control of glmer() must be an lmmpy.GlmerControl, not dict")):
        lmmpy.glmer(CBPP, cbpp, control={"optimizer": "bobyqa"})
