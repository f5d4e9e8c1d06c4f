"""Data-dependent transforms inside random-effects terms (``scale(x)``, ``poly(x, 2)``) take
their state from every row that has x, as R's model.frame evaluates them before na.omit
drops the rows missing another variable (issue 12; the fixed part did so already,
tests/design/test_build.py).  Reference: lme4 on a set with missing values in another
predictor and in the response (``tools/reference/make_random_transforms.R``)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy.design import build_design
from lmmpy.formula import parse_formula

DATA = Path(__file__).parents[1] / "data" / "random_transforms"
FITS = json.loads((DATA / "fits.json").read_text())


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(DATA / "data.csv")


def _fit(name: str, data: pd.DataFrame):
    spec = FITS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        if spec.get("family"):
            return lmmpy.glmer(spec["formula"], data, spec["family"])
        return lmmpy.lmer(spec["formula"], data)


@pytest.mark.parametrize("name", sorted(FITS))
def test_the_random_effects_model_matrices_are_lme4s(name, data):
    spec = FITS[name]
    response = spec["formula"].split("~")[0].strip()
    design = build_design(parse_formula(spec["formula"]), data)
    assert design.n_obs == spec["n_obs"] < data[response].notna().sum()
    assert len(design.terms) == len(spec["terms"])
    for term, expected in zip(design.terms, spec["terms"], strict=True):
        np.testing.assert_allclose(term.model_matrix.values, np.array(expected["values"]),
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FITS))
def test_the_fit_is_lme4s(name, data):
    spec, model = FITS[name], _fit(name, data)
    assert model.loglik == pytest.approx(spec["loglik"], abs=1e-4)
    np.testing.assert_allclose(model.fixef.to_numpy(), list(spec["fixef"].values()),
                               rtol=2e-3, atol=1e-4)


def test_predictions_on_new_data_use_the_fits_transform(data):
    """The transform's state is the fit's (every row with x), on new data as on the fit's."""
    model = _fit("lmer_scale", data)
    rows = data.dropna().head(5)
    np.testing.assert_allclose(model.predict(rows), model.fitted.loc[rows.index], rtol=1e-10)
