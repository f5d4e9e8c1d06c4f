"""Standard errors and intervals of predictions (what lme4 users asked for in lme4#147).

A prediction with the random effects (``re_form=True``) for a row with fixed
part x and random-effects part z (its term-model-matrix entries at the
levels it belongs to) is x'β̂ + z'b̂, an estimate (best linear unbiased
predictor) of x'β + z'b.  Its standard error ``se_fit`` is the root mean
squared prediction error at the estimated θ̂ and σ̂ (Henderson 1975):

    Var(x'β̂ + z'b̂ − x'β − z'b) = σ² g' M⁻¹ g,   g = [Λ'z; x],
    M = [[Λ'Z'WZΛ + I, Λ'Z'WX], [X'WZΛ, X'WX]]

(the mixed-model equations in u = Λ⁻¹b; σ² M⁻¹ is the joint covariance of the
prediction errors of (û, β̂)).  With A = Λ'Z'WZΛ + I, B = Λ'Z'WX and
σ²(X'WX − B'A⁻¹B)⁻¹ = Var(β̂) (the model's ``vcov``) this is

    σ² g_u'A⁻¹g_u + h' Var(β̂) h,   g_u = Λ'z,  h = x − B'A⁻¹g_u,

with A⁻¹ needed only at the pairs of random effects the row touches — entries
on A's pattern, which :func:`lmmpy.objective.selected_inverse` gives at about
the cost of a factorization — and B'A⁻¹g_u = C'g_u with C = A⁻¹B (p solves,
once).  A row joining levels no observation joined (new data) is off the
pattern and solved for instead.  It includes the uncertainty of β̂, of b̂ given the
data, and their covariance (the term −2 x'Cov(β̂ − β, b̂ − b)z the two marginal
variances x'Var(β̂)x + z' condVar z would leave out).

* A level of a grouping factor not seen in the fit (``allow_new_levels``) has
  b̂ = 0 and an independent b ~ N(0, Σ): its rows add z'Σ̂z for that term.
* ``re_form=False``: the prediction x'β̂ estimates the population mean x'β;
  its variance is x' Var(β̂) x.
* ``interval="confidence"``: fit ± z_{(1+level)/2} · se_fit (normal quantile).
  ``interval="prediction"`` is for a new observation at that row,
  fit ± z · √(se_fit² + σ̂²), a residual of unit prior weight.

Not included: the uncertainty of θ̂ and σ̂ (they are treated as known; the
Kackar & Harville 1984 / Kenward & Roger 1997 correction is not applied), so
intervals are somewhat too narrow with few groups; and the normal quantile is
used, not a t with estimated df.

References
----------
Henderson, C. R. (1975). Best linear unbiased estimation and prediction under
a selection model. Biometrics 31, 423-447.
Kackar, R. N. & Harville, D. A. (1984). Approximations for standard errors of
estimators of fixed and random effects in mixed linear models. JASA 79, 853-862.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import norm

from lmmpy._predict import Selection, predicted_values, prediction_rows
from lmmpy.inference._bootstrap import check_level
from lmmpy.objective import random_effects_matrix, selected_inverse

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

INTERVALS = ("confidence", "prediction")
_CHUNK_ENTRIES = 2**24  # entries of a dense q × rows block of solves


def predict_with_se(model: LinearMixedModel, newdata: pd.DataFrame | None,
                    selection: Selection, allow_new_levels: bool, interval: str | None,
                    level: float) -> pd.DataFrame:
    """Predictions with ``fit, se_fit`` (and ``lower, upper`` when ``interval`` is given).

    Examples
    --------
    >>> import lmmpy, pandas as pd
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> new = pd.DataFrame({"Days": [5.0], "Subject": ["308"]})
    >>> from lmmpy._predict import random_effects_selection
    >>> every_term = random_effects_selection(m, None)
    >>> p = predict_with_se(m, new, every_term, False, "confidence", 0.95)
    >>> list(p.columns)
    ['fit', 'se_fit', 'lower', 'upper']
    """
    re_form = any(mask.any() for mask in selection)
    _check_interval(interval, re_form)
    check_level(level)
    rows = prediction_rows(model, newdata, selection, allow_new_levels)
    fit = predicted_values(model, newdata, rows)
    if re_form:
        variance = prediction_error_variance(model, rows.X, rows.matrices, rows.codes)
    else:
        variance = np.einsum("ij,jk,ik->i", rows.X, model.vcov.to_numpy(), rows.X)
    variance[rows.missing] = np.nan
    frame = pd.DataFrame({"fit": fit.to_numpy(), "se_fit": np.sqrt(variance)}, index=fit.index)
    if interval is not None:
        spread = variance + (model.sigma**2 if interval == "prediction" else 0.0)
        half = norm.ppf((1 + level) / 2) * np.sqrt(spread)
        frame["lower"], frame["upper"] = frame["fit"] - half, frame["fit"] + half
    return frame


def prediction_error_variance(model: LinearMixedModel, X: np.ndarray,
                              matrices: list[np.ndarray], codes: list[np.ndarray]
                              ) -> np.ndarray:
    """σ² g'M⁻¹g per row, plus z'Σz for levels not seen in the fit (module docstring)."""
    equations = _MixedModelEquations(model)
    positions, values = _row_effects(model, matrices, codes)
    variance = np.empty(len(X))
    step = max(1, _CHUNK_ENTRIES // max(positions.shape[1] ** 2, 1) // 64)
    for start in range(0, len(X), step):
        rows = slice(start, start + step)
        variance[rows] = equations.variance(X[rows], positions[rows], values[rows])
    unresolved = np.flatnonzero(np.isnan(variance))
    if len(unresolved):
        Zt = _random_effects_rows(model, [m[unresolved] for m in matrices],
                                  [c[unresolved] for c in codes]).T.tocsc()
        variance[unresolved] = equations.solved_variance(X[unresolved], Zt)
    return variance + _new_level_variance(model, matrices, codes)


def _ZtWX(model: LinearMixedModel) -> np.ndarray:
    """Z'WX from the rows (its digits as before), or from the products (a fit from chunks)."""
    design = model.design
    if not design.in_memory:
        return model.objective.crossprods.ZtX()
    Z = random_effects_matrix(design)
    WZ = Z if design.weights is None else sp.diags(design.weights) @ Z
    return WZ.T @ design.X.values


class _MixedModelEquations:
    """A = Λ'Z'WZΛ + I at θ̂ (the fit's own factor), B = Λ'Z'WX, C = A⁻¹B and Var(β̂).

    g_u'A⁻¹g_u needs A⁻¹ only at the pairs of random effects a row touches:
    :func:`lmmpy.objective.selected_inverse` gives those without forming
    columns of A⁻¹, and h = x − C'g_u is a gather of C's rows.
    """

    def __init__(self, model: LinearMixedModel):
        design = model.design
        self.Lambda = _relative_covariance_factor(model)
        self.q = sum(term.n_random_effects for term in design.terms)
        self.inverse = selected_inverse(model.objective, model.theta)  # factors A at θ̂
        self.solve_A = model.objective.factor.solve_A
        self.B = np.asarray(self.Lambda.T @ _ZtWX(model))
        self.C = self.solve_A(self.B) if self.q else self.B
        self.vcov = model.vcov.to_numpy()
        self.sigma2 = model.sigma**2

    def variance(self, X: np.ndarray, positions: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per row; NaN where a pair of the row's random effects is off A's pattern."""
        n, K = positions.shape
        quadratic = np.zeros(n)
        for a in range(K):
            for b in range(a, K):
                products = values[:, a] * values[:, b]
                entries = self.inverse.entries(positions[:, a], positions[:, b])
                quadratic += (1.0 if a == b else 2.0) * np.where(products == 0, 0.0,
                                                                 products * entries)
        H = X - np.einsum("nk,nkp->np", values, self.C[positions])
        return self.sigma2 * quadratic + np.einsum("ij,jk,ik->i", H, self.vcov, H)

    def solved_variance(self, X: np.ndarray, Zt: sp.csc_matrix) -> np.ndarray:
        """The same by solving A W = G for the rows' g_u (rows joining unseen level pairs)."""
        out = np.empty(len(X))
        step = max(1, _CHUNK_ENTRIES // max(self.q, 1))
        for start in range(0, len(X), step):
            rows = slice(start, start + step)
            G = (self.Lambda.T @ Zt[:, rows]).toarray()
            W = self.solve_A(G) if G.size else G
            H = X[rows].T - self.B.T @ W
            out[rows] = (self.sigma2 * np.einsum("ij,ij->j", G, W)
                         + np.einsum("ij,ik,kj->j", H, self.vcov, H))
        return out


def _row_effects(model: LinearMixedModel, matrices: list[np.ndarray],
                 codes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the random effects it touches and g_u = Λ'z there: (n, Σk) positions and
    values (0 for a level not seen in the fit, whose position is then 0)."""
    positions, values, offset, start = [], [], 0, 0
    for term, matrix, level in zip(model.design.terms, matrices, codes, strict=True):
        k = term.n_columns
        T = term.template(model.theta[start:start + term.n_theta])
        seen = (level >= 0)[:, None]
        positions.append(np.where(seen, offset + np.maximum(level, 0)[:, None] * k
                                  + np.arange(k), 0))
        values.append(np.where(seen, matrix @ T, 0.0))   # row z'T = (T'z)'
        offset += term.n_random_effects
        start += term.n_theta
    return np.hstack(positions).astype(np.intp), np.hstack(values)


def _relative_covariance_factor(model: LinearMixedModel) -> sp.csc_matrix:
    blocks, start = [], 0
    for term in model.design.terms:
        T = term.template(model.theta[start:start + term.n_theta])
        blocks.append(sp.kron(sp.identity(term.n_levels), sp.csr_matrix(T)))
        start += term.n_theta
    return sp.block_diag(blocks, format="csc")


def _random_effects_rows(model: LinearMixedModel, matrices: list[np.ndarray],
                         codes: list[np.ndarray]) -> sp.csr_matrix:
    """Z of the prediction rows over the fit's random effects (unseen levels left out)."""
    rows, cols, values, offset = [], [], [], 0
    n = len(codes[0]) if codes else 0
    for term, matrix, level in zip(model.design.terms, matrices, codes, strict=True):
        seen = np.flatnonzero(level >= 0)
        k = term.n_columns
        rows.append(np.repeat(seen, k))
        cols.append((offset + level[seen, None] * k + np.arange(k)).ravel())
        values.append(matrix[seen].ravel())
        offset += term.n_random_effects
    return sp.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, offset))


def _new_level_variance(model: LinearMixedModel, matrices: list[np.ndarray],
                        codes: list[np.ndarray]) -> np.ndarray:
    total = np.zeros(len(codes[0]) if codes else 0)
    start = 0
    for term, matrix, level in zip(model.design.terms, matrices, codes, strict=True):
        T = term.template(model.theta[start:start + term.n_theta])
        start += term.n_theta
        new = level < 0
        if new.any():
            covariance = model.sigma**2 * T @ T.T
            total[new] += np.einsum("ij,jk,ik->i", matrix[new], covariance, matrix[new])
    return total


def _check_interval(interval: str | None, re_form: bool) -> None:
    if interval is not None and interval not in INTERVALS:
        raise ValueError(f"interval must be None, 'confidence' or 'prediction', not {interval!r}")
    if interval == "prediction" and not re_form:
        raise ValueError(
            "interval='prediction' needs the random effects (re_form=None): a new observation "
            "varies with its group's effect too; for a group not in the data pass a new level "
            "with allow_new_levels=True (its random-effect variance is then included)")
