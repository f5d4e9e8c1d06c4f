"""The Hessian behind a GLMM's standard errors: one code path, PIRLS to 1e-12 in its
evaluations, in glmer, glmer_nb and refits (issue 12).

The central differences of ``criterion_hessian`` divide the criterion's error by the
step² (1e-8), and the Laplace criterion's log-determinant moves to first order with û:
with PIRLS stopped at glmer's 1e-10 the SEs of non-canonical links moved by up to
1.7e-4 relative (Gamma log; binomial probit 1.6e-5), glmer_nb's 1e-12 by 3e-6.
Reference: lme4's own criterion with PIRLS converged (tolPwrss 1e-12), its Hessian by
Richardson extrapolation (numDeriv) at lme4's best fit of the unseen sets
(``fixef_se_tight``, tools/reference/make_glmm_unseen.R).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from test_glmm_unseen import _fit, _lme4_parameters, _sets

import lmmpy
import lmmpy.glmm._optimize as optimize
from lmmpy.glmm._conditioned import conditioned_start, fitting_criterion, original_hessian

# the unseen sets with a non-canonical link and nAGQ ≥ 1: binomial cloglog (4, 9) and
# probit (7), Poisson sqrt (16, 21), Gamma log (23, 24, 26, 27, 34)
NON_CANONICAL = [4, 7, 9, 16, 21, 23, 24, 26, 27, 34]
# those where PIRLS at 1e-10 moved an SE by more than 1e-5 (24 left out: its Hessian at
# 1e-14 alone takes seconds)
CHANGED = [7, 23, 26, 27, 34]
GLMER = lmmpy.GlmerControl().pirls_tolerance
CONVERGED = 1e-14   # PIRLS's tolerance for the reference: SEs as if PIRLS were exact
# measured at lme4's fits (max relative change of an SE against PIRLS at 1e-14):
# PIRLS to 1e-10 (glmer's default) 1.7e-4 (set 27), to 1e-12 3.2e-6
SAME_AS_CONVERGED = 1e-5
# central differences with lme4's step (deriv12, 1e-4) against lme4's Richardson
# extrapolation: the step's own error, up to 3.1e-4 (set 26), as lme4's vcov has
RICHARDSON = 5e-4


@functools.cache
def _standard_errors(set_id: int, pirls_tolerance: float) -> np.ndarray:
    """Our SEs at lme4's (θ, β), by glmer's path (conditioned columns, criterion_hessian)
    from a criterion at ``pirls_tolerance`` (glmer's 1e-10: the Hessian's own tolerance
    applies; 1e-14: PIRLS as if exact)."""
    model = _fit(set_id)
    n_theta = len(model.theta)
    criterion = optimize.GlmmCriterion(model.system, n_theta, model.nagq, pirls_tolerance)
    fitting, maps = fitting_criterion(criterion)
    x = conditioned_start(_lme4_parameters(_sets()[set_id]), criterion, maps)
    hessian = original_hessian(optimize.criterion_hessian(fitting, x), n_theta, maps)
    return np.sqrt(np.diag(np.linalg.inv(hessian / 2))[n_theta:])


@pytest.mark.parametrize("set_id", CHANGED)
def test_standard_errors_are_those_of_the_converged_criterion(set_id):
    np.testing.assert_allclose(_standard_errors(set_id, GLMER), _standard_errors(set_id, CONVERGED),
                               rtol=SAME_AS_CONVERGED)


@pytest.mark.parametrize("set_id", NON_CANONICAL)
def test_standard_errors_at_lme4s_fit_are_its_converged_criterions(set_id):
    best = _sets()[set_id]["best"]
    expected = np.array(list(best["fixef_se_tight"].values()))
    np.testing.assert_allclose(_standard_errors(set_id, GLMER), expected, rtol=RICHARDSON)


def test_the_hessian_runs_pirls_to_its_own_tolerance(monkeypatch):
    """Whatever the criterion's tolerance (glmer's 1e-10), the Hessian's evaluations run
    PIRLS to HESSIAN_PIRLS_TOLERANCE."""
    model = _fit(7)
    tolerances = set()
    pirls = optimize.pirls

    def spy(*args, **kwargs):
        tolerances.add(args[-1])
        return pirls(*args, **kwargs)

    monkeypatch.setattr(optimize, "pirls", spy)
    criterion = optimize.GlmmCriterion(model.system, len(model.theta), model.nagq, 1e-10)
    optimize.criterion_hessian(criterion, np.concatenate([model.theta, model.state.beta]))
    assert tolerances == {optimize.HESSIAN_PIRLS_TOLERANCE}


@pytest.fixture(scope="module")
def sqrt_model():
    return lmmpy.glmer("y ~ trt + (1 | subject)", lmmpy.datasets.load("epil"), "poisson",
                       link="sqrt")


@pytest.mark.parametrize("fit", ["glmer", "glmer_nb", "refit"])
def test_every_fit_computes_its_hessian_so(monkeypatch, fit, sqrt_model):
    """glmer, glmer_nb and a refit: the Hessian comes from criterion_hessian."""
    calls = []
    hessian = optimize.criterion_hessian

    def spy(criterion, parameters, *args):
        calls.append(criterion.pirls_tolerance)
        return hessian(criterion, parameters, *args)

    epil = lmmpy.datasets.load("epil")
    for module in ("lmmpy.glmm.fit", "lmmpy.glmm.nb", "lmmpy.glmm._simulate",
                   "lmmpy.glmm._optimize"):
        monkeypatch.setattr(f"{module}.criterion_hessian", spy, raising=False)
    if fit == "glmer":
        fitted = lmmpy.glmer("y ~ trt + (1 | subject)", epil, "poisson", link="sqrt")
    elif fit == "glmer_nb":
        fitted = lmmpy.glmer_nb("y ~ trt + (1 | subject)", epil)
    else:
        fitted = sqrt_model.refit(sqrt_model.system.response.y)
    assert len(calls) == 1 and fitted.hessian is not None
