"""Stage 6: the fitted linear mixed model (lme4's ``merMod``) and what is derived from it.

Definitions follow lme4 exactly (Bates et al. 2015, section 3.6 and 5):

* σ̂² = r²/n (ML) or r²/(n − p) (REML); Var(β̂) = σ̂² (R_X'R_X)⁻¹;
* conditional modes b̂ = Λ_θ û; conditional variances σ̂² Λ_θ A⁻¹ Λ_θ' (diagonal blocks);
* log-likelihood = −objective/2 (the REML log-likelihood for REML fits),
  npar = p + length(θ) + 1, AIC = −2ℓ + 2 npar, BIC = −2ℓ + npar log n,
  df.resid = n − npar;
* the random-effects covariance of a term is σ̂² T T';
* a fit is singular when a θ with lower bound 0 is below 1e-4 (``isSingular``).

The model is frozen; everything derived is a cached property.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.linalg as la

from lmmpy._control import LmerControl
from lmmpy._habits import as_property, model_attribute_error
from lmmpy.design import Design, RandomEffectsTerm
from lmmpy.objective import ProfiledDeviance, Solution, conditional_variances
from lmmpy.optimize import OptSummary

SINGULAR_TOL = 1e-4


@dataclass(frozen=True, eq=False)
class LinearMixedModel:
    """A fitted linear mixed model; make one with :func:`lmmpy.lmer`.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> m.fixef.round(3).to_dict()
    {'(Intercept)': 251.405, 'Days': 10.467}
    >>> m.ngroups
    {'Subject': 18}
    """

    design: Design
    objective: ProfiledDeviance
    optimization: OptSummary
    solution: Solution
    reml: bool = True
    data_name: str | None = None
    #: how the model was fitted (``lmer``'s ``control=``); its refits use it too
    control: LmerControl = field(default_factory=LmerControl)

    #: a GLMM (:class:`~lmmpy.GeneralizedLinearMixedModel`) or not: what inference,
    #: diagnostics and reports ask (:class:`lmmpy._fitted.FittedModel`)
    is_generalized: ClassVar[bool] = False

    @cached_property
    def conditioned_objective(self):
        """The deviance on the random-effects columns centred and scaled, where refits
        optimize (:mod:`lmmpy._conditioned`)."""
        from lmmpy._conditioned import ConditionedObjective

        return ConditionedObjective.of(self.design, self.objective)

    # ---- parameters -------------------------------------------------------------------
    @property
    def formula(self) -> str:
        return self.design.formula.formula

    @cached_property
    def theta(self) -> np.ndarray:
        """Relative covariance parameters θ in lme4's order (``getME(m, "theta")``)."""
        return self.solution.theta.copy()

    @cached_property
    def theta_names(self) -> list[str]:
        return self.design.theta_names()

    @cached_property
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates β̂."""
        return as_property(pd.Series(self.solution.beta, index=list(self.design.beta_names),
                                     name="fixef"), "fixef")

    @property
    def sigma(self) -> float:
        """Residual standard deviation σ̂."""
        return self.solution.sigma

    @cached_property
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of β̂: σ̂² (R_X'R_X)⁻¹."""
        names = list(self.design.beta_names)
        R_inv = la.solve_triangular(self.solution.R_X, np.eye(len(names)))
        return as_property(pd.DataFrame(self.sigma**2 * R_inv @ R_inv.T, index=names,
                                        columns=names), "vcov")

    @cached_property
    def fixef_se(self) -> pd.Series:
        return as_property(pd.Series(np.sqrt(np.diag(self.vcov)), index=self.fixef.index,
                                     name="std_error"), "fixef_se")

    # ---- likelihood -------------------------------------------------------------------
    @property
    def nobs(self) -> int:
        return self.design.n_obs

    @property
    def n_params(self) -> int:
        """Parameters counted by logLik's df: p + length(θ) + 1."""
        return len(self.solution.beta) + len(self.theta) + 1

    @property
    def loglik(self) -> float:
        """Log-likelihood at the optimum (the REML log-likelihood for REML fits)."""
        return -self.solution.deviance / 2

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        return -2 * self.loglik + self.n_params * np.log(self.nobs)

    @cached_property
    def deviance(self) -> float:
        """−2 × the ML log-likelihood at the estimates (lme4's ``deviance(m, REML = FALSE)``).

        For REML fits this is the ML deviance at the REML θ̂, β̂ with σ² profiled
        (r²/n), as lme4 computes it.
        """
        s = self.solution
        n = self.nobs
        return float(s.logdet_L + n * (1 + np.log(2 * np.pi * s.pwrss / n))
                     - self.objective.crossprods.sum_log_weights)

    @property
    def reml_criterion(self) -> float | None:
        """The REML criterion at the optimum (REML fits; None for ML fits)."""
        return self.solution.deviance if self.reml else None

    @property
    def df_resid(self) -> int:
        return self.nobs - self.n_params

    @cached_property
    def logdet_standard_error(self) -> float | None:
        """None for an exact fit; for ``LmerControl(factorization="stochastic")`` the
        standard error of its estimate of log|A| at θ̂ (the deviance's and the ML
        fit's -2·logLik's error; see "How a fit is computed" in the docs)."""
        if self.objective.factor.capabilities.exact:
            return None
        copy = self.objective.with_crossprods(self.objective.crossprods)
        copy.factor.update(self.theta)
        return copy.factor.standard_error

    @property
    def is_singular(self) -> bool:
        """θ on its boundary: a variance estimated as zero or a correlation of ±1."""
        lower = self.design.theta_lower_bounds()
        return bool(np.any(self.theta[lower == 0] < SINGULAR_TOL))

    # ---- random effects ---------------------------------------------------------------
    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor (lme4's ``ngrps``)."""
        return {term.group_name: term.n_levels for term in self.design.terms}

    @cached_property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes b̂ per grouping factor: DataFrame indexed by level, a column per term."""
        return as_property(self._per_group(self._term_values(self.solution.b)), "ranef")

    @cached_property
    def ranef_condsd(self) -> dict[str, pd.DataFrame]:
        """Conditional standard deviations of the random effects (lme4's condVar, square root)."""
        blocks = conditional_variances(self.objective, self.theta)
        sds = [self.sigma * np.sqrt(np.diagonal(block, axis1=1, axis2=2)) for block in blocks]
        return as_property(self._per_group(sds), "ranef_condsd")

    @cached_property
    def coef(self) -> dict[str, pd.DataFrame]:
        """Fixed effects plus the random effects of each level (lme4's ``coef``)."""
        out = {}
        for group, effects in self.ranef.items():
            table = pd.DataFrame(
                np.tile(self.fixef.to_numpy(), (len(effects), 1)),
                index=effects.index, columns=self.fixef.index,
            )
            for column in effects.columns:
                table[column] = table.get(column, 0.0) + effects[column]
            out[group] = table
        return as_property(out, "coef")

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Variances, covariances, SDs and correlations, as ``as.data.frame(VarCorr(m))``."""
        rows = []
        for term, group in zip(self.design.terms, self._group_labels(), strict=True):
            rows.extend(_varcorr_rows(term, group, self._term_covariance(term)))
        rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return as_property(pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"]),
                           "varcorr")

    def covariance_matrices(self) -> dict[str, pd.DataFrame]:
        """σ̂² T T' for each term, keyed as in ``varcorr`` (``Subject``, ``Subject.1``)."""
        return {
            group: pd.DataFrame(self._term_covariance(term), index=term.columns,
                                columns=term.columns)
            for term, group in zip(self.design.terms, self._group_labels(), strict=True)
        }

    # ---- fitted values ----------------------------------------------------------------
    @cached_property
    def fitted(self) -> pd.Series:
        """Fitted values Xβ̂ + Zb̂ + offset, indexed as the data rows used."""
        values = self._linear_predictor(self.design.X.values, self._term_matrices(), True)
        return pd.Series(values + self.design.offset, index=self.design.row_index, name="fitted")

    @cached_property
    def residuals(self) -> pd.Series:
        """Response residuals y − fitted."""
        return pd.Series(self.design.y - self.fitted.to_numpy(), index=self.design.row_index,
                         name="residuals")

    def predict(self, newdata: pd.DataFrame | None = None, re_form: object = None,
                allow_new_levels: bool = False, se_fit: bool = False,
                interval: str | None = None, level: float = 0.95) -> pd.Series | pd.DataFrame:
        """Predictions on new data (lme4's ``predict.merMod``).

        Parameters
        ----------
        newdata : DataFrame, optional
            Default: the data of the fit.  Its factor columns are matched to the fit's
            levels (``308``, ``308.0`` and ``"308"`` are the same level); a level of a
            fixed-effect factor that the fit did not see is an error, and a row with a
            missing value in a column the prediction uses predicts NaN (R's ``na.pass``).
        re_form : None, False, NA or str, default None
            lme4's ``re.form``: None includes every random-effects term; False, NA,
            ``"NA"`` or ``"~0"`` none (the population-level prediction x'β̂); a formula
            of bar terms, e.g. ``"~(1 | Subject)"``, only those terms (a term may take
            some of a model term's columns).  True is read as None.
        allow_new_levels : bool, default False
            Levels not seen in the fit get zero random effects; otherwise they raise.
        se_fit : bool, default False
            Return a DataFrame ``fit, se_fit`` (prediction standard errors).
        interval : {"confidence", "prediction"}, optional
            Add ``lower, upper`` at ``level``; see ``lmmpy.inference.predict_with_se``
            for exactly which uncertainty is included.
        level : float, default 0.95

        Examples
        --------
        >>> import lmmpy, pandas as pd
        >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
        >>> new = pd.DataFrame({"Days": [1.0, 1.0], "Subject": ["308", "NEW"]})
        >>> m.predict(new, allow_new_levels=True).round(3).tolist()
        [273.33, 261.872]
        >>> m.predict(new, re_form="~(1 | Subject)", allow_new_levels=True).round(3).tolist()
        [264.131, 261.872]
        >>> m.predict(new, re_form=False).round(3).tolist()
        [261.872, 261.872]
        """
        from lmmpy._predict import predict, random_effects_selection

        selection = random_effects_selection(self, re_form)
        if se_fit or interval is not None:
            from lmmpy.inference._predict_se import predict_with_se

            return predict_with_se(self, newdata, selection, allow_new_levels, interval, level)
        return predict(self, newdata, selection, allow_new_levels)

    def refit(self, y: np.ndarray | pd.Series) -> LinearMixedModel:
        """Refit to a new response with the same design (the sparse factor is reused)."""
        from lmmpy._fitting import refit_response

        return refit_response(self, np.asarray(y, dtype=float))

    def _restricted_criterion(self, fixed: np.ndarray) -> float:
        """The criterion minimized with the θ's in ``fixed`` held at zero (``ranova``)."""
        from lmmpy.inference._lrt import restricted_deviance

        return restricted_deviance(self, fixed)

    def _intercept_reduced_criterion(self, index: int) -> tuple[float, int]:
        """(criterion, number of θ's) with term ``index`` replaced by ``(1 | g)`` (``ranova``)."""
        from lmmpy.inference._lrt import intercept_refit

        return intercept_refit(self, index)

    def summary(self, ddf: str | None = None):
        """lme4-style summary; with ``ddf`` the fixed effects get df and p (as lmerTest)."""
        from lmmpy._summary import ModelSummary

        if ddf is None:
            return ModelSummary(self)
        from lmmpy.inference import summary_coefficients

        return ModelSummary(self, coefficients=summary_coefficients(self, ddf))

    def coefs(self, ddf: str = "satterthwaite", level: float | None = 0.95) -> pd.DataFrame:
        """Estimates, SEs, df, t, p and Wald intervals at ``level`` (None: none), with the
        tests' df; see ``lmmpy.inference.coefficient_table``."""
        from lmmpy.inference import coefficient_table

        return coefficient_table(self, ddf, level)

    def tidy(self, effects: str | tuple[str, ...] = ("fixed", "ran_pars"), *,
             conf_int: bool = False, conf_level: float = 0.95, conf_method: str = "wald",
             ddf: str = "satterthwaite", **confint_options) -> pd.DataFrame:
        """One row per parameter, as broom.mixed's ``tidy``; see ``lmmpy.report.tidy``."""
        from lmmpy.report import tidy

        return tidy(self, effects, conf_int=conf_int, conf_level=conf_level,
                    conf_method=conf_method, ddf=ddf, **confint_options)

    def glance(self) -> pd.DataFrame:
        """One row of model statistics, as broom.mixed's ``glance``; see ``lmmpy.report.glance``."""
        from lmmpy.report import glance

        return glance(self)

    def anova(self, type: int = 3, ddf: str = "satterthwaite") -> pd.DataFrame:
        """F tests of the fixed-effect terms; see ``lmmpy.inference.anova_table``."""
        from lmmpy.inference import anova_table

        return anova_table(self, type, ddf)

    def contrast(self, L, ddf: str = "satterthwaite", rhs=0.0) -> pd.DataFrame:
        """t or F test of Lβ = rhs; see ``lmmpy.inference.contrast``."""
        from lmmpy.inference import contrast

        return contrast(self, L, ddf, rhs)

    test = contrast

    def ranova(self, reduce_terms: bool = True) -> pd.DataFrame:
        """LRTs reducing each random-effects term; see ``lmmpy.inference.ranova``."""
        from lmmpy.inference import ranova

        return ranova(self, reduce_terms)

    def confint(self, method: str = "profile", level: float = 0.95, parm=None,
                **options) -> pd.DataFrame:
        """Profile, Wald or bootstrap intervals; see ``lmmpy.inference.confint``."""
        from lmmpy.inference._confint import confint

        return confint(self, method, level, parm, **options)

    @cached_property
    def _profiler(self):
        """The likelihood profiler (``lmmpy.inference._profile.Profiler``), made once and
        kept as long as the model: ``confint(method="profile")``, ``profile()`` and
        ``profile_plot`` share its ML refit, interval ends and traces."""
        from lmmpy.inference._profile import Profiler

        return Profiler(self)

    def profile(self, parm=None, progress: bool | None = None) -> pd.DataFrame:
        """Likelihood profiles (ζ) of the parameters; see ``lmmpy.inference.profile``."""
        from lmmpy.inference._confint import profile

        return profile(self, parm, progress)

    def simulate(self, nsim: int = 1, seed=None, use_u: bool = False,
                 use_re: bool | None = None) -> pd.DataFrame:
        """Responses simulated from the fit; see ``lmmpy.inference.simulate``.

        ``use_re`` is another name for ``use_u``, read as ``predict``'s ``re_form``:
        True conditions on the estimated random effects (lme4's ``re.form = NULL``),
        False draws new ones (``re.form = NA``, the default).
        """
        from lmmpy.inference._simulate import simulate

        return simulate(self, nsim, seed, use_u if use_re is None else use_re)

    def simulate_response(self, rng: np.random.Generator, use_u: bool = False) -> np.ndarray:
        """One simulated response vector (what :meth:`simulate` and the bootstrap draw)."""
        from lmmpy.inference._simulate import simulate_response

        return simulate_response(self, rng, use_u)

    def bootstrap(self, nsim: int, func=None, seed=None, n_jobs: int = 1,
                  progress: bool | None = None, use_u: bool = False):
        """Parametric bootstrap (lme4's ``bootMer``); see ``lmmpy.inference.bootstrap``."""
        from lmmpy.inference._bootstrap import bootstrap

        return bootstrap(self, nsim, func, seed, n_jobs, progress, use_u)

    def icc(self, by_group: bool = False, tolerance: float = 1e-5):
        """Adjusted and conditional ICC (R's ``performance::icc``); see ``lmmpy.diagnostics.icc``."""
        from lmmpy.diagnostics import icc

        return icc(self, by_group=by_group, tolerance=tolerance)

    def r2(self, tolerance: float = 1e-5):
        """Marginal and conditional R² (Nakagawa & Schielzeth); see ``lmmpy.diagnostics.r2``."""
        from lmmpy.diagnostics import r2

        return r2(self, tolerance=tolerance)

    def compare_pooling(self, group: str | None = None, alpha: float = 0.05,
                        progress: bool | None = None):
        """Complete vs no vs partial pooling; see ``lmmpy.compare_pooling``."""
        from lmmpy.diagnostics._pooling import pooling_comparison

        return pooling_comparison(self, group=group, alpha=alpha, progress=progress)

    def __getattr__(self, name: str):
        """Called for a missing attribute only: R, statsmodels and pymer4 names (``VarCorr``,
        ``params``, ``fit``) get an AttributeError saying what to write (lmmpy._habits)."""
        raise model_attribute_error(type(self).__name__, name)

    def _repr_html_(self) -> str:
        """A notebook shows the summary's tables."""
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        kind = "REML" if self.reml else "ML"
        return (f"<LinearMixedModel {self.formula!r} ({kind}), nobs={self.nobs}, "
                f"{'REML criterion' if self.reml else 'deviance'}={self.solution.deviance:.4f}>")

    # ---- helpers ----------------------------------------------------------------------
    def _term_covariance(self, term: RandomEffectsTerm) -> np.ndarray:
        T = term.template(self.theta[self._theta_slice(term)])
        return self.sigma**2 * T @ T.T

    def _theta_slice(self, term: RandomEffectsTerm) -> slice:
        start = 0
        for other in self.design.terms:
            if other is term:
                return slice(start, start + term.n_theta)
            start += other.n_theta
        raise KeyError(term.group_name)

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
            size = term.n_random_effects
            out.append(vector[start:start + size].reshape(term.n_levels, term.n_columns))
            start += size
        return out

    def _per_group(self, values: list[np.ndarray]) -> dict[str, pd.DataFrame]:
        """Terms sharing a grouping factor are joined into one table, as lme4's ranef."""
        out: dict[str, pd.DataFrame] = {}
        for term, block in zip(self.design.terms, values, strict=True):
            table = pd.DataFrame(block, index=term.levels, columns=list(term.columns))
            if term.group_name in out:
                table = pd.concat([out[term.group_name], table], axis=1)
            out[term.group_name] = table
        return out

    def _term_matrices(self) -> list[np.ndarray]:
        return [term.model_matrix.values for term in self.design.terms]

    def _linear_predictor(self, X: np.ndarray, term_matrices: list[np.ndarray],
                          include_random: bool, codes: list[np.ndarray] | None = None
                          ) -> np.ndarray:
        eta = X @ self.solution.beta
        if not include_random:
            return eta
        codes = codes if codes is not None else [term.codes for term in self.design.terms]
        for values, matrix, level in zip(self._term_values(self.solution.b), term_matrices,
                                         codes, strict=True):
            known = level >= 0
            eta[known] += np.einsum("ij,ij->i", matrix[known], values[level[known]])
        return eta


def _varcorr_rows(term: RandomEffectsTerm, group: str, covariance: np.ndarray) -> list[tuple]:
    sd = np.sqrt(np.diag(covariance))
    rows = [(group, name, None, covariance[i, i], sd[i]) for i, name in enumerate(term.columns)]
    for j in range(term.n_columns):
        for i in range(j + 1, term.n_columns):
            correlation = covariance[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
            rows.append((group, term.columns[j], term.columns[i], covariance[i, j], correlation))
    return rows
