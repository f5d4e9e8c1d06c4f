"""PIRLS's stopping rule: the last step, or the rest of a geometric series after two full
steps (the step that would only confirm a quadratic convergence is not taken)."""

import numpy as np
import pytest

import lmmpy
from lmmpy.glmm import _pirls
from lmmpy.glmm._pirls import _converged, pirls
from lmmpy.glmm.fit import glmm_setup


@pytest.mark.parametrize("step, previous, expected", [
    (1e-11, None, True),        # the last step is below the tolerance
    (1e-6, None, False),        # one step: nothing to extrapolate from
    (1e-8, 1e-4, True),         # quadratic: 1e-8 · 1e-4 / (1 − 1e-4) ≈ 1e-12 left
    (1e-6, 1e-3, False),        # 1e-6 · 1e-3 ≈ 1e-9 left: one more step
    (1e-8, 3e-8, False),        # slow (r = 1/3): 5e-9 left
    (1e-8, 1e-8, False),        # not shrinking
])
def test_converged(step, previous, expected):
    assert _converged(step, previous, 1e-10) is expected


@pytest.mark.parametrize("link, vary_beta", [("logit", False), ("logit", True),
                                             ("probit", True), ("cloglog", False)])
def test_the_modes_are_those_of_the_plain_rule(monkeypatch, link, vary_beta):
    """û (and β̂) to 1e-9 of PIRLS stopped on the last step alone, canonical link or not."""
    system = glmm_setup("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                        lmmpy.datasets.load("cbpp"), lmmpy.Binomial(link))
    beta = np.array([-1.4, -1.0, -1.1, -1.6])
    ours = pirls(system, np.array([0.7]), None if vary_beta else beta, None, vary_beta)
    monkeypatch.setattr(_pirls, "_converged", lambda step, previous, tolerance:
                        step <= tolerance)
    plain = pirls(system, np.array([0.7]), None if vary_beta else beta, None, vary_beta)
    assert ours.iterations <= plain.iterations
    np.testing.assert_allclose(ours.u, plain.u, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.beta, plain.beta, rtol=0, atol=1e-9)
    assert ours.pdev == pytest.approx(plain.pdev, rel=1e-12)
