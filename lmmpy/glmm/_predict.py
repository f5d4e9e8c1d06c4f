"""Predictions of a GLMM (lme4's ``predict.merMod`` for ``glmerMod``), with standard errors.

The linear predictor η = Xβ̂ + Zb̂ + o is built on new data by the linear
model's machinery (:mod:`lmmpy._predict`: the fit's encodings, ``re_form``
as lme4's ``re.form``, ``allow_new_levels``, NaN for rows missing a value);
``type="response"`` applies the inverse link, μ = g⁻¹(η).

Standard errors (``se_fit``; lme4 1.1-31 has none for GLMMs) are those of
:mod:`lmmpy.inference._predict_se` on the link scale, with the penalized
least-squares problem of the last PIRLS step — working weights
w = wt (dμ/dη)²/V(μ) at the conditional modes — standing in for the linear
model's, and Var(β̂) the model's ``vcov`` (the Hessian of the Laplace
criterion):

    Var(η̂ − η) ≈ σ² g_u'A⁻¹g_u + h'Var(β̂)h,   A = Λ'Z'WZΛ + I

(σ = 1 for the binomial and Poisson).  This is the Laplace approximation's
Gaussian posterior of u around û, combined with the uncertainty of β̂; θ̂ is
treated as known.  A level not seen in the fit adds z'Σ̂z.  On the response
scale the standard error is the delta method's |dμ/dη| · se(η̂), as R's
``predict.glm`` gives it, and a confidence interval is the link-scale
interval η̂ ± z·se mapped through g⁻¹ (it stays inside the response's range).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import norm

from lmmpy._predict import (
    predicted_values,
    prediction_rows,
    random_effects_selection,
)

if TYPE_CHECKING:
    from lmmpy.glmm._model import GeneralizedLinearMixedModel

TYPES = ("link", "response")


def predict_glmm(model: GeneralizedLinearMixedModel, newdata: pd.DataFrame | None, type: str,
                 re_form: object, allow_new_levels: bool, se_fit: bool,
                 interval: str | None, level: float) -> pd.Series | pd.DataFrame:
    """See :meth:`GeneralizedLinearMixedModel.predict`."""
    _check_type(type)
    _check_interval(interval)
    selection = random_effects_selection(model, re_form)
    if newdata is None and all(mask.all() for mask in selection) and not (se_fit or interval):
        eta = pd.Series(model.state.eta, index=model.row_index, name="predicted")
    else:
        rows = prediction_rows(model, newdata, selection, allow_new_levels)
        eta = predicted_values(model, newdata, rows).rename("predicted")
        if newdata is None:
            eta.index = model.row_index
        if se_fit or interval:
            return _with_se(model, eta, rows, selection, type, interval, level)
    return eta if type == "link" else eta.pipe(lambda e: pd.Series(
        model.family.linkinv(e.to_numpy()), index=e.index, name="predicted"))


def _with_se(model, eta: pd.Series, rows, selection, type: str, interval: str | None,
             level: float) -> pd.DataFrame:
    from lmmpy.inference._bootstrap import check_level
    from lmmpy.inference._predict_se import prediction_error_variance

    check_level(level)
    X = rows.X
    if any(mask.any() for mask in selection):
        variance = prediction_error_variance(_LinearView.of(model), X, rows.matrices, rows.codes)
    else:
        variance = np.einsum("ij,jk,ik->i", X, model.vcov.to_numpy(), X)
    variance[rows.missing] = np.nan
    link, se = eta.to_numpy(), np.sqrt(variance)
    family = model.family
    if type == "link":
        frame = pd.DataFrame({"fit": link, "se_fit": se}, index=eta.index)
    else:
        frame = pd.DataFrame({"fit": family.linkinv(link),
                              "se_fit": se * np.abs(family.mu_eta(link))}, index=eta.index)
    if interval is not None:
        half = norm.ppf((1 + level) / 2) * se
        ends = (link - half, link + half)
        if type == "response":
            ends = tuple(family.linkinv(end) for end in ends)
        frame["lower"], frame["upper"] = np.minimum(*ends), np.maximum(*ends)
    return frame


@dataclass(frozen=True, eq=False)
class _LinearView:
    """The penalized least-squares problem of the last PIRLS step, seen as a linear mixed
    model (what :mod:`lmmpy.inference._predict_se` reads): design with the working weights,
    the objective at them, θ̂, Var(β̂) and σ."""

    design: object
    objective: object
    theta: np.ndarray
    vcov: pd.DataFrame
    sigma: float

    @classmethod
    def of(cls, model: GeneralizedLinearMixedModel) -> _LinearView:
        weights = model.system.response.working(model.state.eta, model.design.offset)[0]
        return cls(replace(model.design, weights=weights), model.state.objective, model.theta,
                   model.vcov, model.sigma)


def _check_type(type: str) -> None:
    if type not in TYPES:
        raise ValueError(f"type must be 'link' or 'response', not {type!r}")


def _check_interval(interval: str | None) -> None:
    if interval is None or interval == "confidence":
        return
    if interval == "prediction":
        raise ValueError("interval='prediction' is for a Gaussian response; for a GLMM use "
                         "interval='confidence' (for the mean) or simulate() for new responses")
    raise ValueError(f"interval must be None or 'confidence', not {interval!r}")
