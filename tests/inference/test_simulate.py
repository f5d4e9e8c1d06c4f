"""simulate(): draw order and semantics (lme4's use.u), seeds, prior weights, offsets."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

import lmmpy


@functools.cache
def sleepstudy() -> lmmpy.LinearMixedModel:
    return lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))


@functools.cache
def weighted_with_offset() -> lmmpy.LinearMixedModel:
    data = lmmpy.datasets.load("sleepstudy").assign(
        w=np.random.default_rng(5).uniform(0.25, 4.0, 180), o=np.linspace(-20, 20, 180))
    return lmmpy.lmer("Reaction ~ Days + (1 | Subject)", data, weights="w", offset="o")


def test_shape_index_and_names():
    sims = sleepstudy().simulate(nsim=3, seed=1)
    assert sims.shape == (180, 3)
    assert list(sims.columns) == ["sim_1", "sim_2", "sim_3"]
    assert sims.index.equals(sleepstudy().fitted.index)


def test_draw_order_unconditional():
    """Documented order: u* per term (levels × k), then the n residuals; b* = σ̂ T u*."""
    m = sleepstudy()
    rng = np.random.default_rng(11)
    T = m.design.terms[0].template(m.theta)
    b = m.sigma * rng.standard_normal((18, 2)) @ T.T
    e = rng.standard_normal(180)
    term = m.design.terms[0]
    expected = (m.design.X.values @ m.fixef.to_numpy()
                + np.einsum("ij,ij->i", term.model_matrix.values, b[term.codes]) + m.sigma * e)
    np.testing.assert_array_equal(m.simulate(seed=11)["sim_1"].to_numpy(), expected)


def test_conditional_keeps_the_estimated_random_effects():
    m = sleepstudy()
    e = np.random.default_rng(12).standard_normal(180)
    expected = m.fitted.to_numpy() + m.sigma * e
    np.testing.assert_allclose(m.simulate(seed=12, use_u=True)["sim_1"], expected, rtol=1e-13)


def test_unconditional_covariance_is_the_model_covariance():
    """Across 4000 draws: Var(y_i) = z_i'Σz_i + σ², rows of different subjects uncorrelated."""
    m = sleepstudy()
    sims = m.simulate(nsim=4000, seed=7).to_numpy()
    Sigma = m.covariance_matrices()["Subject"].to_numpy()
    for row, days in ((0, 0.0), (9, 9.0)):  # subject 308, days 0 and 9
        z = np.array([1.0, days])
        expected = z @ Sigma @ z + m.sigma**2
        assert np.var(sims[row]) == pytest.approx(expected, rel=0.1)  # SE of a variance ~2.2%
    assert abs(np.corrcoef(sims[0], sims[10])[0, 1]) < 0.06  # different subjects; SE 0.016


def test_seeds_reproduce():
    m = sleepstudy()
    pd.testing.assert_frame_equal(m.simulate(2, seed=3), m.simulate(2, seed=3))
    assert not m.simulate(1, seed=3).equals(m.simulate(1, seed=4))
    generator = np.random.default_rng(3)
    pd.testing.assert_frame_equal(m.simulate(2, seed=generator), m.simulate(2, seed=3))


def test_weights_scale_the_residual_variance_and_offsets_the_mean():
    m = weighted_with_offset()
    sims = m.simulate(nsim=2000, seed=2, use_u=True).to_numpy()
    residuals = (sims - m.fitted.to_numpy()[:, None]) * np.sqrt(m.design.weights)[:, None]
    assert residuals.var() == pytest.approx(m.sigma**2, rel=0.02)  # 360000 draws
    # the offset is in the simulated mean (fitted includes it)
    assert np.abs(sims.mean(axis=1) - m.fitted.to_numpy()).max() < 5 * m.sigma / np.sqrt(2000 * 0.25)


def test_bad_input():
    m = sleepstudy()
    with pytest.raises(ValueError, match="nsim must be at least 1, not 0"):
        m.simulate(0)
    with pytest.raises(TypeError, match="nsim must be an integer, not float"):
        m.simulate(2.5)
    with pytest.raises(TypeError, match="nsim must be an integer, not bool"):
        m.simulate(True)
