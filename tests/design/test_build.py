"""build_design: the shared fixed-effects matrix, rows dropped for missing values."""

from __future__ import annotations

import numpy as np
import pytest

import lmmpy
from lmmpy.design import build_design
from lmmpy.design._fixed import build_model_matrix
from lmmpy.formula import parse_formula


def test_a_random_term_with_the_fixed_formula_shares_its_matrix():
    sleep = lmmpy.datasets.load("sleepstudy")
    design = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"), sleep)
    own = build_model_matrix("Days", sleep, drop_aliased=False)
    term = design.terms[0].model_matrix
    assert term is design.X
    assert term.names == own.names and np.array_equal(term.values, own.values)


def test_with_aliased_fixed_columns_the_random_term_keeps_all_of_its_own():
    sleep = lmmpy.datasets.load("sleepstudy").assign(Days2=lambda d: 2 * d.Days)
    with pytest.warns(lmmpy.RankDeficiencyWarning):
        design = build_design(parse_formula("Reaction ~ Days + Days2 + (Days + Days2 | Subject)"),
                              sleep)
    assert design.X.names == ("(Intercept)", "Days")
    assert design.terms[0].model_matrix.names == ("(Intercept)", "Days", "Days2")


@pytest.mark.parametrize("transform", ["center(temp)", "scale(temp)", "poly(temp, 2)"])
def test_missing_values_inside_a_stateful_transform_drop_the_row(transform):
    """formulaic's required_variables misses scale(x)'s x; lme4's na.omit does not."""
    data = lmmpy.datasets.load("cake").copy()
    data["temp"] = data["temp"].astype(float)
    data.loc[3, "temp"] = np.nan
    formula = parse_formula(f"angle ~ {transform} + (1 | recipe:replicate)")
    design = build_design(formula, data)
    complete = build_design(formula, data.drop(index=3))
    assert design.n_obs == complete.n_obs == len(data) - 1
    assert design.n_dropped == 1
    np.testing.assert_allclose(design.X.values, complete.X.values)


def test_z_is_built_once_and_shared_by_the_cross_products():
    from lmmpy.objective import cross_products, random_effects_matrix

    design = build_design(parse_formula("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"),
                          lmmpy.datasets.load("sleepstudy"))
    assert random_effects_matrix(design) is design.Z
    assert design.Z.shape == (180, 36)
    expected = np.hstack([term.Z().toarray() for term in design.terms])
    np.testing.assert_array_equal(design.Z.toarray(), expected)
    np.testing.assert_allclose(cross_products(design).ZtZ.toarray(), expected.T @ expected)
