"""The numeric-columns path of build_model_matrix against formulaic itself.

Formulas of numeric columns, their products and the intercept are materialised
by lmmpy (``numeric_model_matrix``); every other formula by formulaic.  The
two must agree exactly — values, names, order — and the ModelSpec the numeric
path makes on first use must rebuild the same matrix on new data.
"""

from __future__ import annotations

import formulaic
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmmpy.design._fixed import build_model_matrix, numeric_model_matrix, parsed_formula

QUICK = settings(deadline=None, database=None, max_examples=60)
NUMERIC = ["x", "z", "w", "k", "my col"]   # k holds integers
OTHER = {"g": "a categorical", "b": "booleans", "s": "strings"}


def _frame(rows: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x": rng.normal(size=rows), "z": rng.normal(size=rows), "w": rng.uniform(1, 2, rows),
        "k": rng.integers(0, 5, rows), "my col": rng.normal(size=rows),
        "g": pd.Categorical(rng.choice(["p", "q", "r"], rows)),
        "b": rng.random(rows) > 0.5, "s": rng.choice(["u", "v"], rows),
    })


def _quoted(name: str) -> str:
    return f"`{name}`" if " " in name else name


_terms = st.lists(st.lists(st.sampled_from(NUMERIC), min_size=1, max_size=3, unique=True)
                  .map(lambda names: ":".join(map(_quoted, names))), min_size=1, max_size=5)


@QUICK
@given(terms=_terms, intercept=st.sampled_from(["", "1 + ", "0 + "]), star=st.booleans())
def test_numeric_formulas_match_formulaic(terms, intercept, star):
    text = intercept + (" * " if star else " + ").join(terms)
    data = _frame()
    formula = parsed_formula(text)
    expected = formulaic.model_matrix(formula, data, na_action="ignore")
    values, names = numeric_model_matrix(formula, data)
    assert names == list(expected.columns)
    np.testing.assert_array_equal(values, np.asarray(expected, dtype=float))


@pytest.mark.parametrize("text", ["x + g", "x:g", "x + b", "s", "np.log(w)", "I(x * 2)",
                                  "scale(x)", "x + missing"])
def test_other_formulas_are_left_to_formulaic(text):
    assert numeric_model_matrix(parsed_formula(text), _frame()) is None


def test_the_numeric_path_makes_the_spec_formulaic_makes():
    data, new = _frame(), _frame(rows=5, seed=1)
    matrix = build_model_matrix("x * k + `my col`", data)
    expected = formulaic.model_matrix("x * k + `my col`", data, na_action="ignore")
    assert [str(term) for term in matrix.spec.structure] == \
        [str(term) for term in expected.model_spec.structure]
    np.testing.assert_array_equal(
        matrix.rebuild(new), np.asarray(expected.model_spec.get_model_matrix(new), dtype=float))
    assert matrix.names == ("(Intercept)", "x", "k", "my col", "x:k")


@pytest.mark.parametrize("dataset, formula", [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),           # the numeric path
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
