"""The criteria's parts: the quadrature rule, AGQ against Laplace, and the Gamma summary."""

from __future__ import annotations

import numpy as np
import pytest
from glmm_cases import fitted

from lmmpy.glmm._laplace import agq_deviance, gauss_hermite_normal, laplace_deviance


@pytest.mark.parametrize("n_nodes", [1, 2, 5, 10, 25])
def test_rule_integrates_normal_moments(n_nodes):
    z, w = gauss_hermite_normal(n_nodes)
    assert w.sum() == pytest.approx(1.0, rel=1e-13)
    for power in range(0, min(2 * n_nodes, 21), 2):   # E z^k of the standard normal: (k − 1)!!
        expected = float(np.prod(np.arange(power - 1, 0, -2, dtype=float)))
        assert np.sum(w * z**power) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("name", ["cbpp_laplace", "epil_poisson", "bacteria_laplace"])
def test_one_node_quadrature_is_laplace_without_the_saturated_part(name):
    model = fitted(name)
    system, state = model.system, model.state
    saturated_part = system.response.aic(state.mu) - np.sum(
        system.response.deviance_residuals(state.mu))
    assert agq_deviance(system, state, 1) == pytest.approx(
        laplace_deviance(system, state) - saturated_part, rel=1e-12)


def test_more_nodes_converge(name="cbpp_laplace"):
    model = fitted(name)
    values = [agq_deviance(model.system, model.state, n) for n in (9, 15, 25)]
    assert abs(values[2] - values[1]) < 1e-6 and abs(values[1] - values[0]) < 1e-4


def test_gamma_summary_labels_t_value():
    text = str(fitted("sim_gamma_log").summary())
    assert "t value Pr(>|z|)" in text
    assert " Family: Gamma  ( log )" in text
    assert "Residual" in text
