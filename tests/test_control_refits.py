"""A model's control (LmerControl / GlmerControl) holds for every refit of it (issue 12).

The bootstrap, ``refit_ml`` (anova's and the profile's ML refit), ranova's reduced fits,
the profiles and a GLMM's null model used to fall back to the default optimizer and
tolerances.  Each test fits with a control whose effect is visible — another optimizer
(its name in the refit's summary; another number of evaluations), a distinctive
evaluation limit or PIRLS tolerance (seen by the optimizer and PIRLS themselves) — and
checks the refits.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

import lmmpy
import lmmpy._fitting
import lmmpy.glmm._optimize
from lmmpy.glmm._optimize import HESSIAN_PIRLS_TOLERANCE

SLEEP = "Reaction ~ Days + (Days | Subject)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
LIMIT = 54_321   # an evaluation limit no default has
BOBYQA = "bobyqa (NLopt)"


@pytest.fixture(scope="module")
def sleep():
    return lmmpy.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def lmm(sleep):
    return lmmpy.lmer(SLEEP, sleep, control=lmmpy.LmerControl(optimizer="bobyqa",
                                                               max_evaluations=LIMIT))


@pytest.fixture(scope="module")
def cbpp():
    return lmmpy.datasets.load("cbpp")


@pytest.fixture(scope="module")
def glmm(cbpp):
    return lmmpy.glmer(CBPP, cbpp, control=lmmpy.GlmerControl(max_evaluations=LIMIT,
                                                               pirls_tolerance=1e-9))


@pytest.fixture
def lmm_calls(monkeypatch):
    """The evaluation limits of the optimizer runs of refits (``lmmpy._fitting``), and
    whether the default path (``minimize_deviance``, no control) ran."""
    calls = {"limits": [], "default": 0}
    optimize_theta, minimize_deviance = (lmmpy._fitting.optimize_theta,
                                         lmmpy._fitting.minimize_deviance)

    def spy_optimize(*args, **kwargs):
        calls["limits"].append(kwargs.get("max_evaluations"))
        return optimize_theta(*args, **kwargs)

    def spy_default(*args, **kwargs):
        calls["default"] += 1
        return minimize_deviance(*args, **kwargs)

    monkeypatch.setattr(lmmpy._fitting, "optimize_theta", spy_optimize)
    monkeypatch.setattr(lmmpy._fitting, "minimize_deviance", spy_default)
    return calls


@pytest.fixture
def glmm_calls(monkeypatch):
    """The evaluation limits NLopt and the gradient descent run with and the tolerances
    PIRLS runs to (GLMMs)."""
    calls = {"limits": [], "tolerances": set(), "far": 0}
    run, pirls = lmmpy.glmm._optimize.run_nlopt, lmmpy.glmm._optimize.pirls
    descend = lmmpy.glmm._optimize._descend

    def spy_run(optimizer, function, start):
        calls["limits"].append(optimizer.get_maxeval())
        return run(optimizer, function, start)

    def spy_descend(*args, **kwargs):
        calls["limits"].append(kwargs["max_evaluations"])
        return descend(*args, **kwargs)

    def spy_pirls(*args, **kwargs):   # the tolerance is the last positional argument
        far = kwargs.get("quick") and args[4]   # stage 1's descent: may be FAR_PIRLS_TOLERANCE
        if far and args[-1] == lmmpy.glmm._optimize.FAR_PIRLS_TOLERANCE:
            calls["far"] += 1
        else:
            calls["tolerances"].add(args[-1])
        return pirls(*args, **kwargs)

    monkeypatch.setattr(lmmpy.glmm._optimize, "run_nlopt", spy_run)
    monkeypatch.setattr(lmmpy.glmm._optimize, "_descend", spy_descend)
    monkeypatch.setattr(lmmpy.glmm._optimize, "pirls", spy_pirls)
    return calls


def _check_lmm_calls(calls) -> None:
    assert calls["limits"] and set(calls["limits"]) == {LIMIT}
    assert calls["default"] == 0


def _check_glmm_calls(calls) -> None:
    assert calls["limits"] and set(calls["limits"]) == {LIMIT}
    assert calls["tolerances"] <= {1e-9, HESSIAN_PIRLS_TOLERANCE}
    assert 1e-9 in calls["tolerances"]


# ---- linear mixed models ----------------------------------------------------------------
def test_a_fitted_model_keeps_its_control(lmm, sleep):
    assert lmm.control == lmmpy.LmerControl(optimizer="bobyqa", max_evaluations=LIMIT)
    assert lmmpy.lmer(SLEEP, sleep).control == lmmpy.LmerControl()


def test_refit_uses_the_control(lmm, sleep, lmm_calls):
    refitted = lmm.refit(lmm.design.y + 1.0)
    assert refitted.optimization.optimizer == BOBYQA
    assert refitted.control is lmm.control
    _check_lmm_calls(lmm_calls)
    default = lmmpy.lmer(SLEEP, sleep)
    assert default.refit(default.design.y).optimization.optimizer != BOBYQA


def test_the_bootstrap_refits_with_the_control(lmm):
    result = lmm.bootstrap(3, func=lambda fit: float(fit.optimization.optimizer == BOBYQA),
                           seed=1)
    np.testing.assert_array_equal(result.replicates.to_numpy().ravel(), 1.0)


def test_refit_ml_uses_the_control(lmm, lmm_calls):
    ml = lmmpy.inference.refit_ml(lmm)
    assert ml.optimization.optimizer == BOBYQA and not ml.reml
    _check_lmm_calls(lmm_calls)


def test_anova_refits_with_the_control(lmm, sleep, lmm_calls):
    small = lmmpy.lmer("Reaction ~ 1 + (Days | Subject)", sleep, control=lmm.control)
    lmm_calls["limits"].clear()
    table = lmmpy.anova(small, lmm)
    assert table.attrs["note"] == "refitting model(s) with ML (instead of REML)"
    _check_lmm_calls(lmm_calls)


@pytest.mark.parametrize("reduce_terms", [True, False])
def test_ranova_reduces_with_the_control(lmm, sleep, lmm_calls, reduce_terms):
    """Reduced fits (a term reduced to (1 | g), or one of two terms removed: with the
    only term removed nothing is left to optimize)."""
    model = lmm if reduce_terms else lmmpy.lmer(
        "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleep, control=lmm.control)
    lmm_calls["limits"].clear()
    model.ranova(reduce_terms)
    _check_lmm_calls(lmm_calls)


def test_the_profile_optimizes_with_the_control(sleep, lmm_calls):
    model = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"),
                       control=lmmpy.LmerControl(optimizer="bobyqa", max_evaluations=LIMIT))
    lmm_calls["limits"].clear()
    model.confint("profile", parm="(Intercept)")
    _check_lmm_calls(lmm_calls)
    assert model._profiler.ml.optimization.optimizer == BOBYQA


# ---- GLMMs ------------------------------------------------------------------------------
def test_a_fitted_glmm_keeps_its_control(glmm, cbpp):
    assert glmm.control.max_evaluations == LIMIT
    assert lmmpy.glmer(CBPP, cbpp).control == lmmpy.GlmerControl()


def test_a_glmm_refit_uses_the_control(glmm, glmm_calls):
    refitted = glmm.refit(glmm.system.response.y)
    assert refitted.control is glmm.control
    _check_glmm_calls(glmm_calls)


def test_a_glmm_refit_with_nelder_mead_is_not_bobyqas(cbpp):
    """Another optimizer in the control: the same model refitted from the same start takes
    Nelder–Mead's evaluations, not BOBYQA's, to the same optimum."""
    model = lmmpy.glmer(CBPP, cbpp, control=lmmpy.GlmerControl(optimizer="nelder_mead"))
    y = model.system.response.y
    nelder_mead = model.refit(y)
    bobyqa = dataclasses.replace(model, control=lmmpy.GlmerControl()).refit(y)
    assert nelder_mead.optimization.n_evaluations != bobyqa.optimization.n_evaluations
    assert nelder_mead.loglik == pytest.approx(bobyqa.loglik, abs=1e-6)


def test_the_glmm_bootstrap_refits_with_the_control(glmm, glmm_calls):
    glmm.bootstrap(2, seed=3)
    _check_glmm_calls(glmm_calls)


@pytest.mark.parametrize("reduce_terms", [True, False])
def test_glmm_ranova_reduces_with_the_control(glmm, glmm_calls, reduce_terms):
    glmm.ranova(reduce_terms)
    _check_glmm_calls(glmm_calls)


def test_the_glmm_profile_runs_pirls_to_the_controls_tolerance(glmm, glmm_calls):
    glmm.profile("sd_(Intercept)|herd")
    assert glmm_calls["tolerances"] == {1e-9}


def test_the_glmm_null_model_uses_the_control(glmm_calls):
    epil = lmmpy.datasets.load("epil")
    model = lmmpy.glmer("y ~ trt + (1 | subject)", epil, "poisson",
                        control=lmmpy.GlmerControl(max_evaluations=LIMIT, pirls_tolerance=1e-9))
    glmm_calls["limits"].clear()
    glmm_calls["tolerances"].clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.r2()
    _check_glmm_calls(glmm_calls)


def test_a_glmer_nb_refit_uses_the_control(glmm_calls):
    epil = lmmpy.datasets.load("epil")
    control = lmmpy.GlmerControl(max_evaluations=LIMIT, pirls_tolerance=1e-9)
    model = lmmpy.glmer_nb("y ~ trt + (1 | subject)", epil, control=control)
    assert model.control is control
    glmm_calls["limits"].clear()
    glmm_calls["tolerances"].clear()
    model.refit(model.system.response.y)
    _check_glmm_calls(glmm_calls)
