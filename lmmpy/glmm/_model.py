"""The fitted GLMM (lme4's ``glmerMod``): estimates, likelihood, residuals, predictions.

Numbers follow lme4's definitions for GLMMs:

* ``loglik``: minus half the criterion at the optimum (Laplace: includes the
  saturated log-likelihood; AGQ, nAGQ > 1: leaves it out, as lme4);
* ``deviance``: Σ d_i, the sum of squared deviance residuals at the
  conditional modes (not −2 ``loglik``; the summary's column is −2 ``loglik``);
* parameters counted: θ, β and, for Gamma and the inverse Gaussian, σ (for the
  negative binomial, its shape, as lme4's ``npar``);
* ``sigma``: 1 for binomial and Poisson, else √(pwrss / n) with
  pwrss = Σ (Pearson residual)² + ‖û‖² (lme4's ``sigmaML``), which scales the
  random-effects variances and conditional SDs;
* ``vcov``: (H/2)⁻¹ on β, H the finite-difference Hessian of the criterion
  over (θ, β) (lme4's default, ``use.hessian = TRUE``); for an nAGQ = 0 fit,
  which has none, σ²(R_X'R_X)⁻¹ of the penalized least-squares problem at
  the final working weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from lmmpy.glmm._families import Family, NegativeBinomial
from lmmpy.glmm._optimize import GlmmOptimization
from lmmpy.glmm._pirls import PirlsResult, ReweightedSystem
from lmmpy.objective import conditional_variance_blocks

SINGULAR_TOL = 1e-4   # lme4's isSingular tolerance
RESIDUAL_TYPES = ("deviance", "pearson", "working", "response")


@dataclass(frozen=True, eq=False)
class GeneralizedLinearMixedModel:
    """A GLMM fitted by :func:`lmmpy.glmer`.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 lmmpy.datasets.load("cbpp"), family="binomial")
    >>> m.fixef.round(2).tolist()
    [-1.4, -0.99, -1.13, -1.58]
    """

    system: ReweightedSystem
    state: PirlsResult
    deviance_value: float
    nagq: int
    hessian: np.ndarray | None
    optimization: GlmmOptimization
    row_index: pd.Index
    data_name: str | None = None

    # ---- the model ---------------------------------------------------------------------
    @property
    def design(self):
        return self.system.design

    @property
    def family(self) -> Family:
        return self.system.response.family

    @property
    def formula(self) -> str:
        return self.design.formula.formula

    @property
    def theta(self) -> np.ndarray:
        """θ in lme4's order (relative covariance factors; relative to σ for Gamma)."""
        return self.state.theta

    @property
    def theta_names(self) -> list[str]:
        return self.design.theta_names()

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self.state.beta, index=list(self.design.beta_names), name="fixef")

    @property
    def nobs(self) -> int:
        return self.design.n_obs

    @property
    def ngroups(self) -> dict[str, int]:
        return {term.group_name: term.n_levels for term in self.design.terms}

    @property
    def is_singular(self) -> bool:
        lower = self.design.theta_lower_bounds()
        return bool(np.any(self.theta[lower == 0] < SINGULAR_TOL))

    # ---- likelihood --------------------------------------------------------------------
    @property
    def loglik(self) -> float:
        return -self.deviance_value / 2

    @property
    def n_params(self) -> int:
        # lme4's npar: a negative binomial's θ counts, estimated (glmer.nb) or not
        return (len(self.theta) + len(self.state.beta) + int(self.family.has_dispersion)
                + int(isinstance(self.family, NegativeBinomial)))

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        return -2 * self.loglik + math.log(self.nobs) * self.n_params

    @property
    def deviance(self) -> float:
        """Σ d_i at the conditional modes (lme4's ``deviance()`` of a GLMM)."""
        return float(np.sum(self.system.response.deviance_residuals(self.state.mu)))

    @property
    def df_resid(self) -> int:
        return self.nobs - self.n_params

    @cached_property
    def sigma(self) -> float:
        if not self.family.has_dispersion:
            return 1.0
        pearson = self.residuals("pearson").to_numpy()
        return math.sqrt((pearson @ pearson + self.state.u @ self.state.u) / self.nobs)

    # ---- fixed effects -----------------------------------------------------------------
    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Var(β̂): (H/2)⁻¹ on β, or σ²(R_X'R_X)⁻¹ for an nAGQ = 0 fit (no Hessian), as lme4."""
        names = list(self.design.beta_names)
        if self.hessian is None:
            R_X = self.state.objective.solve(self.theta).R_X
            R_inverse = np.linalg.inv(R_X)
            return pd.DataFrame(self.sigma**2 * R_inverse @ R_inverse.T, index=names,
                                columns=names)
        n_theta = len(self.theta)
        inverse = np.linalg.inv(self.hessian)[n_theta:, n_theta:]
        return pd.DataFrame(inverse + inverse.T, index=names, columns=names)

    @property
    def fixef_se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.fixef.index,
                         name="se")

    def coefficients(self) -> pd.DataFrame:
        """Estimate, Std. Error, z value and Pr(>|z|) (Wald, as lme4's summary)."""
        estimate, se = self.fixef, self.fixef_se
        z = estimate / se
        return pd.DataFrame({"Estimate": estimate, "Std. Error": se, "z value": z,
                             "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))})

    # ---- random effects ----------------------------------------------------------------
    @cached_property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes b̂ = Λû per grouping factor (level × term column)."""
        return self._per_group(self._term_values(self.system.Lambda(self.theta) @ self.state.u))

    @cached_property
    def ranef_condsd(self) -> dict[str, pd.DataFrame]:
        """Conditional SDs of the random effects (lme4's condVar; times σ for Gamma)."""
        blocks = conditional_variance_blocks(self.state.objective, self.theta)
        return self._per_group([self.sigma * np.sqrt(np.diagonal(b, axis1=1, axis2=2))
                                for b in blocks])

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Variances, covariances, SDs and correlations, as ``as.data.frame(VarCorr(m))``."""
        rows = []
        for term, group, covariance in self._covariances():
            sd = np.sqrt(np.diag(covariance))
            rows += [(group, name, None, covariance[i, i], sd[i])
                     for i, name in enumerate(term.columns)]
            for j in range(term.n_columns):
                for i in range(j + 1, term.n_columns):
                    product = sd[i] * sd[j]
                    rows.append((group, term.columns[j], term.columns[i], covariance[i, j],
                                 covariance[i, j] / product if product > 0 else np.nan))
        if self.family.has_dispersion:
            rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    # ---- fitted values and residuals ---------------------------------------------------
    @cached_property
    def fitted(self) -> pd.Series:
        """μ̂ at the conditional modes (response scale)."""
        return pd.Series(self.state.mu, index=self.row_index, name="fitted")

    def residuals(self, type: str = "deviance") -> pd.Series:
        """Residuals of ``type`` ``"deviance"`` (lme4's default), ``"pearson"``,
        ``"working"`` or ``"response"``."""
        if type not in RESIDUAL_TYPES:
            raise ValueError(f"type must be one of {', '.join(map(repr, RESIDUAL_TYPES))}, "
                             f"not {type!r}")
        response, mu, eta = self.system.response, self.state.mu, self.state.eta
        difference = response.y - mu
        if type == "deviance":
            values = np.sign(difference) * np.sqrt(np.maximum(
                response.deviance_residuals(mu), 0.0))
        elif type == "pearson":
            values = difference * np.sqrt(response.weights / self.family.variance(mu))
        elif type == "working":
            values = difference / self.family.mu_eta(eta)
        else:
            values = difference
        return pd.Series(values, index=self.row_index, name=f"{type} residuals")

    def predict(self, newdata: pd.DataFrame | None = None, type: str = "link",
                re_form: bool = True, allow_new_levels: bool = False) -> pd.Series:
        """Predictions on the link (``type="link"``) or response scale.

        ``re_form=False`` gives the fixed-effects (population) prediction;
        with ``allow_new_levels`` unseen levels get zero random effects.

        Examples
        --------
        >>> import lmmpy, pandas as pd
        >>> m = lmmpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmmpy.datasets.load("cbpp"))
        >>> new = pd.DataFrame({"period": ["1"], "herd": ["new"]})
        >>> m.predict(new, type="response", allow_new_levels=True).round(3).tolist()
        [0.198]
        """
        from lmmpy.glmm._predict import predict_link

        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', not {type!r}")
        if newdata is None:
            eta = self.state.eta if re_form else (
                self.design.X.values @ self.state.beta + self.design.offset)
            eta = pd.Series(eta, index=self.row_index, name="predicted")
        else:
            eta = predict_link(self, newdata, re_form, allow_new_levels)
        if type == "link":
            return eta
        return pd.Series(self.family.linkinv(eta.to_numpy()), index=eta.index, name="predicted")

    def summary(self):
        """lme4's ``summary(glmerMod)`` layout (``print`` it)."""
        from lmmpy.glmm._summary import GlmmSummary

        return GlmmSummary(self)

    def __repr__(self) -> str:
        return (f"<GeneralizedLinearMixedModel {self.formula!r} ({self.family!r}, "
                f"nAGQ={self.nagq}), nobs={self.nobs}, logLik={self.loglik:.4f}>")

    # ---- helpers -----------------------------------------------------------------------
    def _covariances(self):
        start = 0
        for term, group in zip(self.design.terms, self._group_labels(), strict=True):
            T = term.template(self.theta[start:start + term.n_theta])
            start += term.n_theta
            yield term, group, self.sigma**2 * T @ T.T

    def _group_labels(self) -> list[str]:
        """Group names made unique as lme4 does (``Subject``, ``Subject.1``)."""
        seen: dict[str, int] = {}
        labels = []
        for term in self.design.terms:
            count = seen.get(term.group_name, 0)
            labels.append(term.group_name if count == 0 else f"{term.group_name}.{count}")
            seen[term.group_name] = count + 1
        return labels

    def _term_values(self, vector: np.ndarray) -> list[np.ndarray]:
        out, start = [], 0
        for term in self.design.terms:
            out.append(vector[start:start + term.n_random_effects]
                       .reshape(term.n_levels, term.n_columns))
            start += term.n_random_effects
        return out

    def _per_group(self, values: list[np.ndarray]) -> dict[str, pd.DataFrame]:
        out: dict[str, pd.DataFrame] = {}
        for term, block in zip(self.design.terms, values, strict=True):
            table = pd.DataFrame(block, index=term.levels, columns=list(term.columns))
            if term.group_name in out:
                table = pd.concat([out[term.group_name], table], axis=1)
            out[term.group_name] = table
        return out
