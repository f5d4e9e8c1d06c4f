"""The curvature model a gradient gives for a diagonal Λ (``_gradient.information_metric``),
BFGS's first metric: against the Hessian from differences of the analytic gradient."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy._descent import em_metric
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products


def _crossed(n=5000, levels1=300, levels2=200, seed=7):
    rng = np.random.default_rng(seed)
    g1, g2 = rng.integers(levels1, size=n), rng.integers(levels2, size=n)
    x1 = rng.normal(size=n)
    y = (1 + 0.5 * x1 + rng.normal(0, 0.8, levels1)[g1] + rng.normal(0, 0.5, levels2)[g2]
         + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x1": x1, "g1": g1.astype(str), "g2": g2.astype(str)})


CASES = {
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)",
                   lambda: lmmpy.datasets.load("Penicillin")),
    "crossed": ("y ~ x1 + (1 | g1) + (1 | g2)", _crossed),
    "uncorrelated": ("Reaction ~ Days + (Days || Subject)",
                     lambda: lmmpy.datasets.load("sleepstudy")),
}


def _at_optimum(name, reml):
    formula, data = CASES[name]
    data = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theta = lmmpy.lmer(formula, data, reml=reml).theta
    design = build_design(parse_formula(formula), data)
    f = ProfiledDeviance(cross_products(design), design.terms, reml, _path="blocked")
    return f, theta


def _hessian(f, theta, h=1e-5):
    gradient = f.value_and_gradient(theta)[1]
    H = np.array([(f.value_and_gradient(theta + h * e)[1] - gradient) / h
                  for e in np.eye(len(theta))])
    return (H + H.T) / 2


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_the_information_metric_is_near_the_hessian_and_nearer_than_em(name, reml):
    """At θ̂ the model's diagonal is within 20 % of the Hessian's (measured: 0.95–1.17),
    where EM's curvature is 1.05–2.0 times it, and it is positive definite."""
    f, theta = _at_optimum(name, reml)
    f.value_and_gradient(theta)
    metric = f.information(theta)
    em = em_metric(f.em_update, theta)
    H = _hessian(f, theta)
    ratio, em_ratio = np.diag(metric) / np.diag(H), np.diag(em) / np.diag(H)
    assert np.all((ratio > 0.8) & (ratio < 1.2)), ratio
    assert np.all(np.abs(np.log(ratio)) <= np.abs(np.log(em_ratio))), (ratio, em_ratio)
    assert np.linalg.eigvalsh(metric).min() > 0


def test_no_information_metric_for_a_correlated_term_or_another_theta():
    design = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"),
                          lmmpy.datasets.load("sleepstudy"))
    f = ProfiledDeviance(cross_products(design), design.terms, True, _path="blocked")
    theta = design.theta_start()
    f.value_and_gradient(theta)
    assert f.information(theta) is None   # Λ not diagonal: EM's metric instead
    f, theta = _at_optimum("crossed", False)
    f.value_and_gradient(theta)
    assert f.information(theta) is not None
    assert f.information(theta + 1e-3) is None   # no gradient was taken there
