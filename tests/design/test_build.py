"""build_design: the shared fixed-effects matrix, rows dropped for missing values."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
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


def _with_missing(kind: str):
    """sleepstudy with a column `m` of the given kind, missing at rows 4 and 7."""
    data = lmmpy.datasets.load("sleepstudy").copy()
    values = np.arange(len(data)) % 5
    missing = np.isin(np.arange(len(data)), [4, 7])
    if kind == "float":
        column = pd.Series(np.where(missing, np.nan, values + 0.5))
    elif kind == "nullable integer":
        column = pd.Series(values, dtype="Int64").mask(missing)
    elif kind == "categorical":
        column = pd.Series(pd.Categorical(values)).mask(missing)
    else:  # strings with None
        column = pd.Series([f"v{v}" for v in values], dtype=object).mask(missing)
    return data.assign(m=column.array)


@pytest.mark.parametrize("kind", ["float", "nullable integer", "categorical", "strings"])
def test_a_missing_value_of_any_kind_of_column_drops_its_row(kind):
    data = _with_missing(kind)
    design = build_design(parse_formula("Reaction ~ Days + m + (1 | Subject)"), data)
    assert design.n_dropped == 2
    assert 4 not in design.row_index and 7 not in design.row_index
    assert design.n_obs == len(data) - 2


def test_integer_and_boolean_columns_have_no_missing_values_to_drop():
    data = lmmpy.datasets.load("sleepstudy").assign(flag=lambda d: d.Days > 4)
    design = build_design(parse_formula("Reaction ~ Days + flag + (1 | Subject)"), data)
    assert design.n_dropped == 0 and design.n_obs == len(data)


def test_the_design_does_not_share_the_callers_data():
    data = lmmpy.datasets.load("sleepstudy").copy()
    design = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"), data)
    y, X = design.y.copy(), design.X.values.copy()
    data["Reaction"] = 0.0
    data.loc[:, "Days"] = 99
    np.testing.assert_array_equal(design.y, y)
    np.testing.assert_array_equal(design.X.values, X)


def test_unused_categories_of_the_kept_rows_are_dropped_from_the_levels():
    data = lmmpy.datasets.load("sleepstudy").copy()
    data["Reaction"] = data["Reaction"].where(data["Subject"] != data["Subject"].iloc[0])
    design = build_design(parse_formula("Reaction ~ Days + (1 | Subject)"), data)
    assert design.terms[0].n_levels == 17
    assert str(data["Subject"].iloc[0]) not in design.terms[0].levels
    assert len(data["Subject"].cat.categories) == 18   # the caller's frame is untouched


@pytest.mark.parametrize("residual, kept", [(1e-3, 3), (1e-6, 3), (1e-9, 2)])
def test_nearly_aliased_columns_follow_the_1e_7_rule(residual, kept):
    """Columns far from aliased take the quick check; near it, R's rule decides."""
    rng = np.random.default_rng(3)
    data = lmmpy.datasets.load("sleepstudy").copy()
    noise = rng.normal(size=len(data))
    noise -= noise.mean()
    centred = data.Days - data.Days.mean()
    noise -= centred * (noise @ centred) / (centred @ centred)   # orthogonal to 1 and Days
    scale = residual * np.linalg.norm(2 * data.Days) / np.linalg.norm(noise)
    data["near"] = 2 * data.Days + scale * noise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.RankDeficiencyWarning)
        design = build_design(parse_formula("Reaction ~ Days + near + (1 | Subject)"), data)
    assert len(design.X.names) == kept


def test_the_model_frame_is_the_callers_own_when_the_model_drops_nothing():
    from lmmpy.design._build import _model_frame

    data = lmmpy.datasets.load("sleepstudy").assign(
        other=pd.Categorical(["a"] * 180, categories=["a", "unused"]))
    keep = np.ones(len(data), dtype=bool)
    assert _model_frame(data, keep, ["Reaction", "Days", "Subject"]) is data
    dropped = _model_frame(data, keep, ["Reaction", "other"])   # a model column's unused level
    assert dropped is not data and list(dropped["other"].cat.categories) == ["a"]
    assert list(data["other"].cat.categories) == ["a", "unused"]


@pytest.mark.parametrize("missing", ["y", "g", "w", "x"])
def test_data_dependent_transforms_use_the_rows_that_have_their_columns(missing):
    """R's model.frame evaluates scale(x) and poly(w, 2) on every row before dropping the
    rows missing another variable (found by the GLMM unseen suite, set 32: the basis of
    poly() on the kept rows made β and the criterion at lme4's estimates differ)."""
    rng = np.random.default_rng(7)
    n = 60
    data = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(2, 3, n),
                         "w": rng.normal(1, 2, n), "g": np.repeat(list("abcdef"), 10)})
    data.loc[[3, 17, 40], missing] = None
    design = build_design(parse_formula("y ~ scale(x) + poly(w, 2) + (1 | g)"), data)
    kept = design.row_index.to_numpy()
    assert len(kept) == n - 3
    names = list(design.X.names)
    x = data["x"].to_numpy()
    has_x = ~np.isnan(x)   # the rows R's scale() averages over (na.rm = TRUE)
    scaled = (x - x[has_x].mean()) / x[has_x].std(ddof=1)
    np.testing.assert_allclose(design.X.values[:, names.index("scale(x)")], scaled[kept],
                               rtol=1e-12)
    # poly's basis: orthonormal (with the constant) over the rows that have w
    w = data["w"].to_numpy()
    has_w = ~np.isnan(w)
    q, r = np.linalg.qr(np.column_stack([np.ones(has_w.sum()), w[has_w], w[has_w] ** 2]))
    basis = (q * np.sign(np.diag(r)))[:, 1:]
    position = np.cumsum(has_w) - 1
    poly = design.X.values[:, [names.index("poly(w, 2)[1]"), names.index("poly(w, 2)[2]")]]
    np.testing.assert_allclose(poly, basis[position[kept]], atol=1e-12)
