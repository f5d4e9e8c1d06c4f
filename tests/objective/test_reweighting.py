"""A factorization reused with other weights must give the fresh objective (issue 12).

PIRLS reweights the same design at every step, reusing the factorization set
up for the first weights (``ProfiledDeviance.with_crossprods``): nothing that
depends on the weights may survive the change, only the analysed pattern.
"""

from dataclasses import replace

import numpy as np
import pytest

from lmmpy.datasets import load
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products, random_effects_matrix

MODELS = {
    "Penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", np.array([1.5, 3.0])),
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", np.array([0.9, 0.1, 0.2])),
}


@pytest.mark.parametrize("path", ["dense", "blocked", "cholmod"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_with_crossprods_after_new_weights_is_a_fresh_objective(name, path):
    formula, theta = MODELS[name]
    design = build_design(parse_formula(formula), load(name))
    weights = np.random.default_rng(1).uniform(0.5, 2.0, design.n_obs)
    reweighted = cross_products(replace(design, weights=weights))
    first = ProfiledDeviance(cross_products(design), design.terms, reml=False, _path=path)
    first(theta)   # set up (and factor) with the first weights
    reused = first.with_crossprods(reweighted)
    fresh = ProfiledDeviance(reweighted, design.terms, reml=False, _path=path)
    assert reused(theta) == pytest.approx(fresh(theta), rel=1e-10)
    assert reused(theta) != pytest.approx(first(theta), rel=1e-6)   # the weights matter
    np.testing.assert_allclose(reused.solve(theta).u, fresh.solve(theta).u, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("path", ["dense", "blocked", "cholmod"])
def test_with_crossprods_for_a_new_response_keeps_its_value(path):
    design = build_design(parse_formula(MODELS["Penicillin"][0]), load("Penicillin"))
    theta = MODELS["Penicillin"][1]
    first = ProfiledDeviance(cross_products(design), design.terms, reml=False, _path=path)
    y = design.y + np.random.default_rng(2).normal(size=design.n_obs)
    crossprods = first.crossprods.with_response(random_effects_matrix(design), design.X.values,
                                                y, None)
    fresh = ProfiledDeviance(cross_products(replace(design, y=y)), design.terms, reml=False,
                             _path=path)
    assert first.with_crossprods(crossprods)(theta) == pytest.approx(fresh(theta), rel=1e-10)
