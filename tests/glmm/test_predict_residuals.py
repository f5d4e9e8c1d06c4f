"""GLMM residuals, fitted values and predictions against lme4 (make_glmm_inference.R).

As in test_glmer_reference: every quantity is a function of (θ, β), compared at lme4's
estimates (``at_lme4``: residuals, fitted values and predictions to 1e-4; prediction
standard errors, which use the Hessian, to 5e-3 as the fixed-effect standard errors),
and on our own fit to the precision lme4's optimum has (its estimates are up to ~1e-3
off ours; ours has the higher likelihood).  The standard-error formula itself is
checked exactly against a dense computation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from inference_cases import MODELS, at_lme4, fitted, model_data, newdata, reference

KINDS = ["deviance", "pearson", "working", "response"]


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("kind", KINDS)
def test_residuals_match_lme4(name, kind):
    expected = np.array(reference(name)["residuals"][kind])
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(at_lme4(name).residuals(kind).to_numpy(), expected,
                               rtol=1e-4, atol=1e-5 * scale)
    np.testing.assert_allclose(fitted(name).residuals(kind).to_numpy(), expected,
                               rtol=1e-2, atol=1e-3 * scale)


@pytest.mark.parametrize("name", MODELS)
def test_fitted_match_lme4(name):
    expected = reference(name)["fitted"]
    # probit: lme4's PIRLS leaves û ~1e-5 off for a non-canonical link (test_glmer_reference)
    np.testing.assert_allclose(at_lme4(name).fitted.to_numpy(), expected, rtol=1e-4,
                               atol=1e-5 * np.max(np.abs(expected)))
    np.testing.assert_allclose(fitted(name).fitted.to_numpy(), expected, rtol=1e-2)


@pytest.mark.parametrize("name", MODELS)
def test_predictions_on_new_data_match_lme4(name):
    model, expected, new = at_lme4(name), reference(name)["predict"], newdata(name)
    link = model.predict(new, allow_new_levels=True)
    np.testing.assert_allclose(link, expected["link"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.predict(new, type="response", allow_new_levels=True),
                               expected["response"], rtol=1e-4)
    np.testing.assert_allclose(model.predict(new, re_form=np.nan), expected["link_fixed"],
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.predict(new, type="response", re_form="~0"),
                               expected["response_fixed"], rtol=1e-4)


@pytest.mark.parametrize("name", [n for n in MODELS if reference(n).get("re_form")])
def test_prediction_with_some_random_effects(name):
    """re.form naming one term of two (crossed) or the intercept of (x | g)."""
    model, spec = at_lme4(name), reference(name)
    known = newdata(name).iloc[:-1]
    np.testing.assert_allclose(model.predict(known, re_form=spec["re_form"]),
                               spec["predict"]["link_partial"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("re_form", [None, False])
def test_prediction_standard_errors_match_r(name, re_form):
    """R's parts of the variance, σ²g'A⁻¹g (+ z'Σz for a new level) and h, with Var(β̂)
    from our Hessian at lme4's estimates (lme4's own comes from PIRLS stopped at 1e-7, its
    standard errors up to 1.3% off the converged criterion's: see the cases' README)."""
    model, new = at_lme4(name), newdata(name)
    parts = reference(name)["se_fit"]["link" if re_form is None else "link_fixed"]
    got = model.predict(new, re_form=re_form, allow_new_levels=True, se_fit=True)["se_fit"]
    H = np.atleast_2d(np.array(parts["H"]))
    precise = np.array(parts["random"]) + np.einsum("ij,jk,ik->i", H, model.vcov.to_numpy(), H)
    np.testing.assert_allclose(got, np.sqrt(precise), rtol=1e-4)


@pytest.mark.parametrize("name", ["bin_slope", "pois_offset", "gamma"])
def test_prediction_standard_error_is_the_dense_formula(name):
    """σ²g'A⁻¹g + h'Var(β̂)h with A, B at the working weights, by dense linear algebra."""
    model = fitted(name)
    design, state = model.design, model.state
    w = model.system.response.working(state.eta, design.offset)[0]
    Z, X = design.Z.toarray(), design.X.values
    Lambda = model.system.Lambda(model.theta).toarray()
    ZL = Z @ Lambda
    A = ZL.T @ (ZL * w[:, None]) + np.eye(ZL.shape[1])
    B = ZL.T @ (X * w[:, None])
    G = ZL[:10].T
    H = X[:10].T - B.T @ np.linalg.solve(A, G)
    V = model.vcov.to_numpy()
    expected = (model.sigma**2 * np.einsum("ij,ij->j", G, np.linalg.solve(A, G))
                + np.einsum("ij,ik,kj->j", H, V, H))
    got = model.predict(model_data(name).loc[model.row_index[:10]], se_fit=True)["se_fit"]
    np.testing.assert_allclose(got, np.sqrt(expected), rtol=1e-8)


def test_response_scale_standard_errors_and_interval():
    model = fitted("bacteria")
    new = newdata("bacteria")
    link = model.predict(new, allow_new_levels=True, se_fit=True, interval="confidence")
    response = model.predict(new, type="response", allow_new_levels=True, se_fit=True,
                             interval="confidence")
    mu = 1 / (1 + np.exp(-link["fit"]))
    np.testing.assert_allclose(response["fit"], mu)
    np.testing.assert_allclose(response["se_fit"], link["se_fit"] * mu * (1 - mu))
    np.testing.assert_allclose(response["lower"], 1 / (1 + np.exp(-link["lower"])))
    assert (response["lower"] < response["fit"]).all()
    assert (response["fit"] < response["upper"]).all()
    half = 1.959963984540054 * link["se_fit"]
    np.testing.assert_allclose(link["upper"] - link["fit"], half)


def test_predict_without_newdata_is_the_fit():
    model = fitted("pois_offset")
    np.testing.assert_allclose(model.predict(type="response"), model.fitted, rtol=1e-12)
    population = model.predict(re_form="~0")
    expected = model.design.X.values @ model.fixef.to_numpy() + model.design.offset
    np.testing.assert_allclose(population, expected)
    assert list(population.index) == list(model.row_index)


@pytest.mark.parametrize(("options", "message"), [
    ({"type": "probability"}, "type must be 'link' or 'response'"),
    ({"interval": "prediction"}, "interval='prediction' is for a Gaussian response"),
    ({"interval": "both"}, "interval must be None or 'confidence'"),
    ({"re_form": "~(1 | site)"}, "'site' is not a grouping factor"),
    ({"se_fit": True, "level": 2}, "level must be between 0 and 1"),
])
def test_bad_prediction_arguments(options, message):
    with pytest.raises(ValueError, match=message):
        fitted("cbpp").predict(pd.DataFrame({"period": ["1"], "herd": ["1"]}), **options)
