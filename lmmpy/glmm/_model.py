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
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from lmmpy._control import GlmerControl
from lmmpy._families import Family, NegativeBinomial
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
    #: how the model was fitted (``glmer``'s ``control=``); its refits use it too
    control: GlmerControl = field(default_factory=GlmerControl)

    #: a GLMM: what inference, diagnostics and reports ask (:class:`lmmpy._fitted.FittedModel`)
    is_generalized: ClassVar[bool] = True

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

    def coefs(self, level: float | None = 0.95) -> pd.DataFrame:
        """Wald z tests and intervals of the fixed effects, in the layout of the linear
        model's ``coefs()``: ``estimate, std_error, z_value, p_value`` (two-sided) and
        ``conf_low, conf_high`` at ``level`` (None: none).

        Examples
        --------
        >>> import lmmpy
        >>> m = lmmpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmmpy.datasets.load("cbpp"))
        >>> m.coefs().round(3).loc["period[T.2]"].tolist()
        [-0.992, 0.307, -3.236, 0.001, -1.593, -0.391]
        """
        table = self.coefficients().set_axis(["estimate", "std_error", "z_value", "p_value"],
                                             axis=1)
        if level is not None:
            from lmmpy.inference._contrast import check_level, wald_interval

            table["conf_low"], table["conf_high"] = wald_interval(
                table["estimate"].to_numpy(), table["std_error"].to_numpy(), np.inf,
                check_level(level))
        table.attrs["level"] = level
        return table

    # ---- random effects ----------------------------------------------------------------
    @cached_property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes b̂ = Λû per grouping factor (level × term column)."""
        return self._per_group(self._term_values(self._b))

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

    def covariance_matrices(self) -> dict[str, pd.DataFrame]:
        """Each term's random-effects covariance matrix, keyed by its group label."""
        return {group: pd.DataFrame(covariance, index=list(term.columns),
                                    columns=list(term.columns))
                for term, group, covariance in self._covariances()}

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
                re_form: object = None, allow_new_levels: bool = False, se_fit: bool = False,
                interval: str | None = None, level: float = 0.95) -> pd.Series | pd.DataFrame:
        """Predictions on the link (``type="link"``) or response scale (lme4's ``predict``).

        Parameters
        ----------
        newdata : DataFrame, optional
            Default: the rows of the fit.
        type : {"link", "response"}, default "link"
        re_form : None, False, NA or str, default None
            lme4's ``re.form``: None (or True) every random-effects term; False, NA
            or ``"~0"`` none (the population-level prediction); a formula of bar
            terms such as ``"~(1 | herd)"`` just those.
        allow_new_levels : bool, default False
            Levels not seen in the fit get zero random effects; otherwise they raise.
        se_fit : bool, default False
            Return a DataFrame ``fit, se_fit`` (see :mod:`lmmpy.glmm._predict`: on
            the response scale by the delta method).
        interval : {"confidence"}, optional
            Add ``lower, upper``: the link-scale interval at ``level``, mapped to
            the response scale for ``type="response"``.
        level : float, default 0.95

        Examples
        --------
        >>> import lmmpy, pandas as pd
        >>> m = lmmpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmmpy.datasets.load("cbpp"))
        >>> new = pd.DataFrame({"period": ["1"], "herd": ["new"]})
        >>> m.predict(new, type="response", allow_new_levels=True).round(3).tolist()
        [0.198]
        >>> m.predict(new, type="response", allow_new_levels=True, se_fit=True).round(3)
             fit  se_fit
        0  0.198   0.108
        """
        from lmmpy.glmm._predict import predict_glmm

        return predict_glmm(self, newdata, type, re_form, allow_new_levels, se_fit, interval,
                            level)

    # ---- inference ---------------------------------------------------------------------
    def confint(self, method: str = "profile", level: float = 0.95, parm=None, *,
                nsim: int = 500, seed=None, boot_type: str = "perc", n_jobs: int = 1,
                progress: bool | None = None) -> pd.DataFrame:
        """Confidence intervals (``lower``, ``upper``), as lme4's ``confint`` (oldNames = FALSE).

        Parameters
        ----------
        method : {"profile", "wald", "boot"}, default "profile"
            The profiled Laplace (AGQ) criterion; β̂ ± z·SE (fixed effects only); or
            the parametric bootstrap (see :mod:`lmmpy.inference._confint`).
        level : float, default 0.95
        parm : str or list of str, optional
            Rows to keep: ``sd_(Intercept)|herd``, ``period[T.2]``, ...
        nsim, seed, boot_type, n_jobs, progress
            For ``method="boot"``: replicates, seed, ``"perc"``, ``"basic"`` or
            ``"norm"``, processes, progress bar.

        Examples
        --------
        >>> import lmmpy
        >>> m = lmmpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmmpy.datasets.load("cbpp"))
        >>> m.confint("wald").loc["period[T.2]"].round(3).tolist()
        [-1.593, -0.391]
        >>> m.confint(parm="sd_(Intercept)|herd").round(3).to_numpy().tolist()
        [[0.346, 1.1]]
        """
        from lmmpy.inference._confint import confint

        return confint(self, method, level, parm, nsim=nsim, seed=seed, boot_type=boot_type,
                       n_jobs=n_jobs, progress=progress)

    def ranova(self, reduce_terms: bool = True) -> pd.DataFrame:
        """Likelihood-ratio tests reducing each random-effects term (lmerTest's ``ranova``,
        with the boundary mixture); see ``lmmpy.inference.ranova``."""
        from lmmpy.inference import ranova

        return ranova(self, reduce_terms)

    def icc(self, by_group: bool = False, tolerance: float = 1e-5):
        """Adjusted and conditional ICC on the latent scale, as R's ``performance::icc``
        (binomial, Poisson); see ``lmmpy.diagnostics.icc`` and ``_glmm_variance``."""
        from lmmpy.diagnostics import icc

        return icc(self, by_group=by_group, tolerance=tolerance)

    def r2(self, tolerance: float = 1e-5):
        """Marginal and conditional R² (``performance::r2_nakagawa``) on the latent scale."""
        from lmmpy.diagnostics import r2

        return r2(self, tolerance=tolerance)

    def tidy(self, effects: str | tuple[str, ...] = ("fixed", "ran_pars"), *,
             conf_int: bool = False, conf_level: float = 0.95, conf_method: str = "wald",
             **confint_options) -> pd.DataFrame:
        """One row per parameter, as broom.mixed's ``tidy`` of a glmer fit (z tests; df
        infinite); see ``lmmpy.report.tidy``.

        Examples
        --------
        >>> import lmmpy
        >>> m = lmmpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmmpy.datasets.load("cbpp"))
        >>> m.tidy()[["effect", "term", "estimate"]].round(3).tail(2)
             effect             term  estimate
        3     fixed      period[T.4]    -1.580
        4  ran_pars  sd__(Intercept)     0.642
        """
        from lmmpy.report import tidy

        return tidy(self, effects, conf_int=conf_int, conf_level=conf_level,
                    conf_method=conf_method, **confint_options)

    def glance(self) -> pd.DataFrame:
        """One row of model statistics, as broom.mixed's ``glance``; see ``lmmpy.report.glance``."""
        from lmmpy.report import glance

        return glance(self)

    def compare_pooling(self, group: str | None = None, alpha: float = 0.05):
        """Complete (GLM), no (GLM with group dummies) and partial pooling (this GLMM) side by
        side, with the tests between them; groups whose responses are all 0 or all 1 are
        reported (separation).  See ``lmmpy.diagnostics._glmm_pooling``.

        Examples
        --------
        >>> import lmmpy
        >>> m = lmmpy.glmer("y ~ trt + I(week > 2) + (1 | ID)", lmmpy.datasets.load("bacteria"))
        >>> list(m.compare_pooling().summary_table.index)
        ['complete', 'none', 'partial']
        """
        from lmmpy.diagnostics._pooling import pooling_comparison

        return pooling_comparison(self, group=group, alpha=alpha)

    @cached_property
    def _profiler(self):
        from lmmpy.glmm._profile import GlmmProfiler

        return GlmmProfiler(self)

    def profile(self, parm=None) -> pd.DataFrame:
        """The likelihood profile of each parameter (``parameter, value, zeta`` and every
        parameter's value), traced as lme4's ``profile``; see ``lmmpy.inference.profile``."""
        from lmmpy.inference._confint import profile

        return profile(self, parm, progress=False)

    def simulate(self, nsim: int = 1, seed=None, use_u: bool = False) -> pd.DataFrame:
        """Responses simulated from the fit, one column per simulation (``sim_1``, ...).

        New random effects (``use_u=False``, lme4's default) or the estimated
        ones; the responses are on the fitted response's scale (a binomial
        response as proportions of the prior weights, the trials).  See
        :mod:`lmmpy.glmm._simulate`.

        Examples
        --------
        >>> import lmmpy
        >>> m = lmmpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...                 lmmpy.datasets.load("cbpp"))
        >>> m.simulate(nsim=2, seed=1).shape
        (56, 2)
        """
        from lmmpy.inference._simulate import check_nsim

        check_nsim(nsim)
        rng = np.random.default_rng(seed)
        columns = {f"sim_{i + 1}": self.simulate_response(rng, use_u) for i in range(nsim)}
        return pd.DataFrame(columns, index=self.row_index)

    def simulate_response(self, rng: np.random.Generator, use_u: bool = False) -> np.ndarray:
        """One simulated response vector (what :meth:`simulate` and the bootstrap draw)."""
        from lmmpy.glmm._simulate import simulate_response

        return simulate_response(self, rng, use_u)

    def refit(self, y) -> GeneralizedLinearMixedModel:
        """The same model fitted to a new response ``y`` (on the fitted response's scale)."""
        from lmmpy.glmm._simulate import refit_response

        return refit_response(self, np.asarray(y, dtype=float))

    def bootstrap(self, nsim: int, func=None, seed=None, n_jobs: int = 1,
                  progress: bool | None = None, use_u: bool = False):
        """Parametric bootstrap (lme4's ``bootMer``): ``func`` of refits to simulated responses
        (default: the parameters of :meth:`confint`); see ``lmmpy.inference.bootstrap``."""
        from lmmpy.inference._bootstrap import bootstrap

        return bootstrap(self, nsim, func, seed, n_jobs, progress, use_u)

    def _restricted_criterion(self, fixed: np.ndarray) -> float:
        """The criterion minimized with the θ's in ``fixed`` held at zero (``ranova``)."""
        from lmmpy.glmm._lrt import restricted_criterion

        return restricted_criterion(self, fixed)

    def _intercept_reduced_criterion(self, index: int) -> tuple[float, int]:
        """(criterion, number of θ's) with term ``index`` replaced by ``(1 | g)`` (``ranova``)."""
        from lmmpy.glmm._lrt import intercept_refit

        return intercept_refit(self, index)

    def _null_intercept(self) -> float:
        """β̂₀ of the model refitted with the intercept as its only fixed effect (the ICC's
        and R²'s distribution-specific variance)."""
        from lmmpy.glmm._lrt import null_intercept

        return null_intercept(self)

    def summary(self):
        """lme4's ``summary(glmerMod)`` layout (``print`` it)."""
        from lmmpy.glmm._summary import GlmmSummary

        return GlmmSummary(self)

    def __repr__(self) -> str:
        return (f"<GeneralizedLinearMixedModel {self.formula!r} ({self.family!r}, "
                f"nAGQ={self.nagq}), nobs={self.nobs}, logLik={self.loglik:.4f}>")

    # ---- helpers -----------------------------------------------------------------------
    @cached_property
    def _b(self) -> np.ndarray:
        return self.system.Lambda(self.theta) @ self.state.u

    def _linear_predictor(self, X: np.ndarray, term_matrices: list[np.ndarray],
                          include_random: bool, codes: list[np.ndarray] | None = None
                          ) -> np.ndarray:
        """Xβ̂ (+ the rows' random effects; codes −1: a level not in the fit, none)."""
        eta = X @ self.state.beta
        if not include_random:
            return eta
        codes = codes if codes is not None else [term.codes for term in self.design.terms]
        for values, matrix, level in zip(self._term_values(self._b), term_matrices, codes,
                                         strict=True):
            known = level >= 0
            eta[known] += np.einsum("ij,ij->i", matrix[known], values[level[known]])
        return eta

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
