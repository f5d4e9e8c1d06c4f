"""The response of a GLMM: lme4's response forms, prior weights and the checks.

lme4 (as R's ``glm``) accepts a binomial response in three forms:

* ``cbind(successes, failures)``: y = s / (s + f), trials s + f, the prior
  weights multiplied by the trials;
* a 0/1 column, or a factor (bool, string) whose first level is the failure
  and every other level a success;
* a proportion with the trials as ``weights=``.

Every other family takes a numeric response.  The response is evaluated here
(``cbind`` is not formulaic's) and put in the design as a plain column, so the
design stage drops the rows where it is missing with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from lmmpy._families import (
    Binomial,
    Family,
    Gamma,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
)
from lmmpy.design._fixed import expression_values
from lmmpy.formula import ParsedFormula

RESPONSE_COLUMN = "_glmm_response_"
_INTEGER_TOLERANCE = 1e-3   # R's binomial()$initialize: "non-integer #successes"


@dataclass(frozen=True)
class GlmResponse:
    """y, binomial trials and prior weights of the rows a design kept, with the family.

    Attributes
    ----------
    y : the response on the family's scale (a proportion for the binomial)
    trials : R's binomial ``n`` (ones for the other forms and families)
    weights : prior weights (the trials times the case weights for ``cbind``)
    family : the :class:`~lmmpy._families.Family`
    """

    y: np.ndarray
    trials: np.ndarray
    weights: np.ndarray
    family: Family

    def subset(self, rows: np.ndarray) -> GlmResponse:
        return replace(self, y=self.y[rows], trials=self.trials[rows], weights=self.weights[rows])

    def mu(self, eta: np.ndarray) -> np.ndarray:
        if self._logit:   # one compiled pass, the numpy expression's bits
            from lmmpy.glmm._kernels import logit_inverse

            eta = np.asarray(eta, dtype=float)
            mu = np.empty(eta.shape)
            logit_inverse(eta.ravel(), mu.ravel())
            return mu
        return self.family.linkinv(eta)

    def deviance_residuals(self, mu: np.ndarray) -> np.ndarray:
        """The unit deviances d_i (their signed square roots are the deviance residuals)."""
        return self.family.deviance_residuals(self.y, mu, self.weights)

    def deviance_at(self, eta: np.ndarray) -> float:
        """Σ d_i at μ = g⁻¹(η) (PIRLS's step check; one compiled pass for the logit)."""
        if self._logit:
            from lmmpy.glmm._kernels import logit_deviance

            return float(logit_deviance(eta, self.y, self.weights))
        return float(np.sum(self.deviance_residuals(self.mu(eta))))

    def aic(self, mu: np.ndarray) -> float:
        """R's ``family$aic``: −2 log p(y | μ) (+2 for an estimated dispersion)."""
        if isinstance(self.family, Binomial):   # no deviance needed; the counts made once
            return self.family.aic(self.y, self.trials, mu, self.weights, 0.0,
                                   counts=self._binomial_counts)
        deviance = float(np.sum(self.deviance_residuals(mu)))
        return self.family.aic(self.y, self.trials, mu, self.weights, deviance)

    def aic_derivative(self, mu: np.ndarray) -> np.ndarray:
        """∂ aic / ∂μ_i."""
        if isinstance(self.family, Binomial):
            return self.family.aic_derivative(self.y, self.trials, mu, self.weights,
                                              counts=self._binomial_counts)
        return self.family.aic_derivative(self.y, self.trials, mu, self.weights)

    @cached_property
    def _binomial_counts(self):
        """The binomial's weight-and-response constants of ``aic`` and its derivative."""
        return Binomial.counts(self.y, self.trials, self.weights)

    @cached_property
    def newton(self) -> bool:
        """Whether the link is canonical (binomial logit, Poisson log): PIRLS's Fisher
        scoring is then Newton's method, converging quadratically."""
        family = self.family
        return ((isinstance(family, Binomial) and family.link.name == "logit")
                or (type(family) is Poisson and family.link.name == "log"))

    @cached_property
    def _logit(self) -> bool:
        return isinstance(self.family, Binomial) and self.family.link.name == "logit"

    def working(self, eta: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Working weights wt (dμ/dη)²/V(μ) and working response η − o + (y − μ)/(dμ/dη)
        (for the logit link in one compiled pass with the same bits: PIRLS asks at every
        step, and on a few thousand rows the seven numpy passes cost more than the
        arithmetic)."""
        if self._logit and np.ndim(eta) == 1:
            from lmmpy.glmm._kernels import logit_working

            eta, offset = np.asarray(eta, dtype=float), np.asarray(offset, dtype=float)
            if offset.shape != eta.shape:
                offset = np.broadcast_to(offset, eta.shape)
            weights, z = np.empty(len(eta)), np.empty(len(eta))
            logit_working(eta, offset, self.y, self.weights, weights, z)
            return weights, z
        mu = self.mu(eta)
        mu_eta = self.family.mu_eta(eta)
        weights = self.weights * mu_eta**2 / self.family.variance(mu)
        return weights, eta - offset + (self.y - mu) / mu_eta

    def start_eta(self) -> np.ndarray:
        """η from R's ``mustart`` for the family (the first PIRLS weights)."""
        family = self.family
        if isinstance(family, Binomial):
            mu = (self.weights * self.y + 0.5) / (self.weights + 1)
        elif isinstance(family, Poisson):
            mu = self.y + 0.1
        elif isinstance(family, NegativeBinomial):
            mu = self.y + (self.y == 0) / 6
        else:
            mu = self.y
        return family.linkfun(mu)


def response_frame(formula: ParsedFormula, data: pd.DataFrame, family: Family,
                   weights) -> tuple[ParsedFormula, pd.DataFrame, GlmResponse]:
    """The formula and data with the response as a plain numeric column, and the response.

    The rows of the returned frame are numbered 0, 1, ... (a design's
    ``row_index`` is then the rows' positions in ``data``); the returned
    response has a value for every row of ``data`` (NaN where missing).
    """
    if formula.response is None:
        raise ValueError(f"formula {formula.formula!r} has no response (left of '~')")
    frame = data.reset_index(drop=True)
    case_weights = _case_weights(weights, frame)
    y, trials = _evaluate_response(formula.response, frame, family)
    prior = case_weights * trials if _is_cbind(formula.response) else case_weights.copy()
    column = RESPONSE_COLUMN
    while column in frame.columns:
        column += "_"
    frame[column] = np.where(np.isnan(prior), np.nan, y)
    response = GlmResponse(y, trials, prior, family)
    return replace(formula, response=column), frame, response


def check_response(response: GlmResponse, name: str) -> None:
    """The values the family allows, named by the response's text ``name``."""
    y, family = response.y, response.family
    if np.any(response.weights < 0) or not np.all(np.isfinite(response.weights)):
        raise ValueError("weights must be finite and non-negative")
    if isinstance(family, Binomial):
        _check_binomial(response, name)
    elif isinstance(family, Poisson | NegativeBinomial) and np.any(y < 0):
        raise ValueError(f"response {name!r} has negative counts: the {_label(family)} family "
                         "needs counts of 0 or more")
    elif isinstance(family, Gamma | InverseGaussian) and np.any(y <= 0):
        raise ValueError(f"response {name!r} has values of 0 or less: the {family.name} "
                         "family needs positive values")


def _label(family: Family) -> str:
    """The family's name in a message (the negative binomial's without its θ)."""
    return "negative binomial" if isinstance(family, NegativeBinomial) else family.name


def _check_binomial(response: GlmResponse, name: str) -> None:
    y = response.y
    if np.any((y < 0) | (y > 1)):
        raise ValueError(f"response {name!r} has values outside [0, 1]: a binomial response "
                         "is 0/1, a proportion with weights= the trials, a two-level factor "
                         "or cbind(successes, failures)")
    successes = response.weights * y
    if np.any(np.abs(successes - np.round(successes)) > _INTEGER_TOLERANCE):
        raise ValueError(f"response {name!r} gives non-integer numbers of successes "
                         "(response × weights): binomial counts must be whole numbers")


def _case_weights(weights, frame: pd.DataFrame) -> np.ndarray:
    if weights is None:
        return np.ones(len(frame))
    if isinstance(weights, str):
        if weights not in frame.columns:
            raise ValueError(f"weights column {weights!r} is not in the data")
        weights = frame[weights]
    array = np.asarray(weights)
    if array.ndim != 1 or len(array) != len(frame):
        raise ValueError(f"weights must be a column name or have one value per row of data "
                         f"({len(frame)}), not shape {array.shape}")
    try:
        return np.array(array, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError("weights must be numeric") from error


def _is_cbind(text: str) -> bool:
    return text.replace(" ", "").startswith("cbind(") and text.rstrip().endswith(")")


def _evaluate_response(text: str, frame: pd.DataFrame,
                       family: Family) -> tuple[np.ndarray, np.ndarray]:
    """(y, trials) for every row (NaN where the response is missing)."""
    ones = np.ones(len(frame))
    if _is_cbind(text):
        if not isinstance(family, Binomial):
            raise ValueError(f"a cbind(successes, failures) response needs the binomial "
                             f"family, not {_label(family)}")
        successes, failures = (_numeric(part, frame) for part in _cbind_parts(text))
        for part, values in zip(_cbind_parts(text), (successes, failures), strict=True):
            if np.any(values < 0):
                raise ValueError(f"{text}: {part!r} has negative values; both parts of cbind "
                                 "are counts (successes, failures)")
        trials = successes + failures
        y = np.divide(successes, trials, out=np.zeros(len(frame)), where=trials > 0)
        return np.where(np.isnan(trials), np.nan, y), trials
    column = text.strip("`")
    if column in frame.columns and not _is_numeric(frame[column]):
        if not isinstance(family, Binomial):
            raise TypeError(f"response {column!r} must be numeric for the {_label(family)} "
                            "family")
        return _factor_response(frame[column]), ones
    return _numeric(text, frame), ones


def _cbind_parts(text: str) -> list[str]:
    inner = text.strip()[text.index("(") + 1:-1]
    parts, depth, start = [], 0, 0
    for position, char in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(inner[start:position].strip())
            start = position + 1
    parts.append(inner[start:].strip())
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"{text}: cbind takes two columns, the successes and the failures")
    return parts


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _factor_response(values: pd.Series) -> np.ndarray:
    """0 for the first level (R's factor order: sorted labels; False before True), 1 else."""
    missing = values.isna().to_numpy()
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
    else:
        codes = pd.Categorical(values.where(~missing)).codes
    return np.where(missing, np.nan, (codes > 0).astype(float))


def _numeric(expression: str, frame: pd.DataFrame) -> np.ndarray:
    name = expression.strip("`")
    if name in frame.columns:
        values = frame[name]
        if pd.api.types.is_bool_dtype(values):
            return values.astype(float).to_numpy()
        if not pd.api.types.is_numeric_dtype(values):
            raise TypeError(f"{name!r} must be numeric")
        return values.to_numpy(dtype=float)
    matrix = expression_values(expression, frame, "the response")
    if matrix.shape[1] != 1:
        raise TypeError(f"{expression!r} must be a numeric expression")
    return matrix.ravel()
