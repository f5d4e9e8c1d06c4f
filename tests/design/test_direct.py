"""The direct path of build_model_matrix against formulaic itself.

Formulas of numeric columns, their products, the intercept and categorical
main effects are materialised by lmmpy (``direct_model_matrix``); every other
formula by formulaic.  The two must agree exactly — values, names, order — and
the ModelSpec the direct path makes on first use must rebuild the same matrix
on new data.
"""

from __future__ import annotations

import formulaic
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmmpy.design._direct import direct_model_matrix
from lmmpy.design._fixed import build_model_matrix, parsed_formula

QUICK = settings(deadline=None, database=None, max_examples=60)
NUMERIC = ["x", "z", "w", "k", "my col"]   # k holds integers
CATEGORICAL = ["g", "s", "n", "u"]   # categories, strings, integer categories, an unused one


def _frame(rows: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(size=rows), "z": rng.normal(size=rows), "w": rng.uniform(1, 2, rows),
        "k": rng.integers(0, 5, rows), "my col": rng.normal(size=rows),
        "g": pd.Categorical(rng.choice(["r", "p", "q"], rows), categories=["r", "p", "q"]),
        "b": rng.random(rows) > 0.5, "s": rng.choice(["v", "u", "w"], rows),
        "n": pd.Categorical(rng.choice([3, 1, 2], rows)),
        "u": pd.Categorical(rng.choice(["a", "b"], rows), categories=["a", "b", "c"]),
        "o": pd.Categorical(rng.choice(["lo", "hi"], rows), ordered=True),
        "t": np.array(rng.choice(["v", "u"], rows), dtype=object),
    })


def _quoted(name: str) -> str:
    return f"`{name}`" if " " in name else name


def _assert_matches_formulaic(text: str, data: pd.DataFrame) -> None:
    formula = parsed_formula(text)
    expected = formulaic.model_matrix(formula, data, na_action="ignore")
    values, names = direct_model_matrix(formula, data)
    assert names == list(expected.columns)
    np.testing.assert_array_equal(values, np.asarray(expected, dtype=float))


_terms = st.lists(st.lists(st.sampled_from(NUMERIC), min_size=1, max_size=3, unique=True)
                  .map(lambda names: ":".join(map(_quoted, names))), min_size=1, max_size=5)


@QUICK
@given(terms=_terms, intercept=st.sampled_from(["", "1 + ", "0 + "]), star=st.booleans())
def test_numeric_formulas_match_formulaic(terms, intercept, star):
    _assert_matches_formulaic(intercept + (" * " if star else " + ").join(terms), _frame())


@QUICK
@given(numeric=_terms, factors=st.lists(st.sampled_from([*CATEGORICAL, "t"]), min_size=1,
                                        max_size=3, unique=True),
       first=st.booleans(), seed=st.integers(0, 5))
def test_categorical_main_effects_beside_an_intercept_match_formulaic(numeric, factors, first,
                                                                      seed):
    terms = factors + numeric if first else numeric + factors
    _assert_matches_formulaic(" + ".join(terms), _frame(seed=seed))


@pytest.mark.parametrize("text", ["x:g", "g:s", "x * g", "0 + g", "0 + x + s", "x + b", "o",
                                  "x + o", "np.log(w)", "I(x * 2)", "scale(x)", "C(g)",
                                  "x + missing"])
def test_other_formulas_are_left_to_formulaic(text):
    assert direct_model_matrix(parsed_formula(text), _frame()) is None


def test_strings_with_missing_values_are_left_to_formulaic():
    data = _frame().assign(t=lambda d: d.t.where(d.x > 0, None))
    assert direct_model_matrix(parsed_formula("x + t"), data) is None


@pytest.mark.parametrize("text, names", [
    ("x * k + `my col`", ("(Intercept)", "x", "k", "my col", "x:k")),
    ("x + g + s + u", ("(Intercept)", "x", "g[T.p]", "g[T.q]", "s[T.v]", "s[T.w]", "u[T.b]")),
])
def test_the_direct_path_makes_the_spec_formulaic_makes(text, names):
    data, new = _frame(), _frame(rows=5, seed=1)
    matrix = build_model_matrix(text, data)
    expected = formulaic.model_matrix(text, data, na_action="ignore")
    assert [str(term) for term in matrix.spec.structure] == \
        [str(term) for term in expected.model_spec.structure]
    np.testing.assert_array_equal(
        matrix.rebuild(new), np.asarray(expected.model_spec.get_model_matrix(new),
                                        dtype=float)[:, list(matrix.kept)])
    assert matrix.names == names    # u[T.c], never observed, dropped as aliased


@pytest.mark.parametrize("dataset, formula", [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),           # the direct path
    ("cake", "angle ~ recipe + temp + (1 | recipe:replicate)"),     # with a factor
    ("cake", "angle ~ recipe * temperature + (1 | recipe:replicate)"),  # formulaic's
])
def test_a_fitted_model_pickles_and_predicts_as_before(dataset, formula):
    import pickle
    import warnings

    import lmmpy

    data = lmmpy.datasets.load(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        model = lmmpy.lmer(formula, data)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.fixef, model.fixef)
    np.testing.assert_allclose(restored.predict(data.head(5)), model.predict(data.head(5)))


def test_categoricals_with_missing_values_are_left_to_formulaic():
    data = _frame().assign(g=lambda d: d.g.where(d.x > 0))
    assert direct_model_matrix(parsed_formula("x + g"), data) is None


def _reference_cases() -> list[str]:
    from reference import case_files

    return case_files("fit")   # the linear mixed models (the GLMMs' cbind responses aside)


@pytest.mark.parametrize("name", _reference_cases())
def test_every_reference_design_is_formulaics_where_the_direct_path_applies(name):
    """The fixed part and every random term's left side of each reference case, on its
    data after lme4's na.omit: the direct path, where it applies, is formulaic's matrix."""
    from reference import case_design, load_case_data

    from lmmpy.design._fixed import polynomial_contrast_formula

    case, design = case_design(name)
    data = load_case_data(case).loc[design.row_index]
    for piece in [design.formula.fixed] + [term.lhs for term in design.formula.random]:
        formula = polynomial_contrast_formula(piece, data)
        direct = direct_model_matrix(formula, data)
        if direct is None:
            continue
        expected = formulaic.model_matrix(formula, data, na_action="ignore")
        assert direct[1] == list(expected.columns), piece
        np.testing.assert_array_equal(direct[0], np.asarray(expected, dtype=float))


def test_the_deferred_spec_does_not_see_later_changes_to_the_callers_data():
    data = _frame()
    matrix = build_model_matrix("x + t", data)
    data.loc[:, "t"] = "zz"   # in place, before anything asked for the spec
    new = _frame(rows=5, seed=2)
    expected = formulaic.model_matrix("x + t", _frame(), na_action="ignore").model_spec
    np.testing.assert_array_equal(matrix.rebuild(new),
                                  np.asarray(expected.get_model_matrix(new), dtype=float))
