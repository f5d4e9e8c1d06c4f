"""Complete, no and partial pooling for a GLMM: GLM, GLM with group dummies, and the GLMM.

The linear comparison (:mod:`lmmpy.diagnostics._pooling`) with GLMs for the
least-squares fits, on the link scale:

* complete pooling — the GLM of y on X (same family, link, prior weights and
  offset), the groups ignored;
* no pooling — the GLM on the no-pooling design of :mod:`._nopooling` (group
  dummies, group-specific slopes; sum-coded where the column is in X, so the
  pooled coefficient is the unweighted mean of the groups' own);
* partial pooling — the GLMM as fitted (Laplace or AGQ).

**Separation.**  A group whose responses are all 0 (or, binomial, all 1 —
every trial a failure, or a success) has a maximum-likelihood coefficient of
−∞ (+∞) without pooling: its dummy pushes its fitted probability (rate) to 0
or 1, and R's ``glm`` stops at some large value with "fitted probabilities
numerically 0 or 1".  In that limit those rows contribute nothing to the other
coefficients, so the no-pooling GLM is fitted to the other groups' rows (the
same estimates as R's ``glm`` on those rows), the separated groups' own
coefficients are reported as −inf / +inf, and the notes name them.  Partial
pooling keeps them finite: the point of shrinkage.

Tests: the LRT of the group dummies (no against complete pooling, both GLMs,
χ² with df the difference in rank; on the rows both fit); the LRT of the random
effects (GLMM against the complete-pooling GLM, the boundary rule of
:func:`lmmpy.inference.boundary_mixture`); the Hausman test on the
individual-level coefficients (GLM covariance (A'WA)⁺ against the GLMM's vcov).

Group estimates are on the link scale: *partial* is the coefficient of the
GLMM's η̂ − o in the no-pooling parameterisation, *target* that of Xβ̂, and
the reliability of a scalar term σ_b²/(σ_b² + 1/Σ_{i∈j} w_i m_i²) with w the
working weights at the fit (the Fisher information of the group's effect).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from lmmpy._families import Binomial, Poisson
from lmmpy.diagnostics._glm import GLMFit, glm
from lmmpy.diagnostics._hausman import hausman_test
from lmmpy.diagnostics._nopooling import NoPoolingDesign, no_pooling_design
from lmmpy.diagnostics._ols import ols
from lmmpy.diagnostics._report import _hausman_sentence, _lrt_sentence, _p, _significant
from lmmpy.diagnostics._shrinkage import group_estimates
from lmmpy.inference import boundary_mixture

if TYPE_CHECKING:
    from lmmpy.glmm import GeneralizedLinearMixedModel

TITLE = "Pooling comparison: complete (GLM), none (GLM with group dummies), partial (GLMM)"
TEST_NAMES = ("LRT of group dummies (none vs complete)",
              "LRT of random effects (partial vs complete)",
              "Hausman (fixed vs random effects)")


@dataclass(frozen=True)
class Separation:
    """Levels of each grouping factor whose responses are all 0 / all 1, and the rows kept."""

    all_zero: dict[str, list[str]]
    all_one: dict[str, list[str]]
    keep: np.ndarray

    @property
    def any(self) -> bool:
        return any(self.all_zero.values()) or any(self.all_one.values())


def glmm_pooling_parts(model: GeneralizedLinearMixedModel, group: str | None, alpha: float):
    """The fields of a :class:`~lmmpy.diagnostics.PoolingComparison` for a GLMM."""
    design, response = model.design, model.system.response
    npd = no_pooling_design(design)
    separation = find_separation(model)
    keep = separation.keep
    complete = glm(design.X.values, response, design.offset)
    none = glm(npd.matrix[keep], response.subset(np.flatnonzero(keep)), design.offset[keep])
    complete_kept = glm(design.X.values[keep], response.subset(np.flatnonzero(keep)),
                        design.offset[keep]) if separation.any else complete
    coefficients, errors = _coefficient_tables(model, complete, none, npd, separation)
    lrt_groups = _lrt(none.loglik - complete_kept.loglik, none.rank - complete_kept.rank)
    lrt_random = _random_effects_lrt(model, complete)
    hausman, names = _hausman(model, none, npd)
    tables = group_estimates(_LinkScale.of(model), npd, _NoPooling.of(none, npd.matrix))
    tables = {name: _mark_separated(table, separation, name) for name, table in tables.items()}
    tests = pd.DataFrame([lrt_groups, lrt_random,
                          (hausman.statistic, hausman.df, hausman.p_value)],
                         index=list(TEST_NAMES), columns=["statistic", "df", "p_value"])
    return dict(
        coefficients=coefficients, std_errors=errors,
        summary_table=_summary_table(complete, none, model),
        group_estimates=tables[group] if group else (
            next(iter(tables.values())) if len(tables) == 1 else tables),
        tests=tests.astype({"df": int}),
        verdict=_verdict(lrt_groups, lrt_random, hausman, names, alpha),
        notes=tuple(_notes(model, npd, separation, none, names)),
        title=TITLE)


def find_separation(model: GeneralizedLinearMixedModel) -> Separation:
    """Levels whose rows (among those still kept) are all 0 or all 1, until none is left."""
    y, family = model.system.response.y, model.family
    keep = np.ones(len(y), dtype=bool)
    zero: dict[str, list[str]] = {}
    one: dict[str, list[str]] = {}
    if not isinstance(family, Binomial | Poisson):
        return Separation(zero, one, keep)
    changed = True
    while changed:
        changed = False
        for term in model.design.terms:
            codes = term.codes[keep]
            size = np.bincount(codes, minlength=term.n_levels)
            low = np.bincount(codes, y[keep] == 0, minlength=term.n_levels)
            high = np.bincount(codes, y[keep] == 1, minlength=term.n_levels)
            found = {"zero": (size > 0) & (low == size)}
            found["one"] = ((size > 0) & (high == size) if isinstance(family, Binomial)
                            else np.zeros(term.n_levels, dtype=bool))
            for kind, target in (("zero", zero), ("one", one)):
                levels = np.flatnonzero(found[kind])
                if len(levels):
                    target.setdefault(term.group_name, []).extend(term.levels[levels])
                    keep &= ~np.isin(term.codes, levels)
                    changed = True
    return Separation(zero, one, keep)


def _coefficient_tables(model, complete: GLMFit, none: GLMFit, npd: NoPoolingDesign,
                        separation: Separation) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pooled coefficients; a sum-coded one without pooling is the mean of the own coefficients
    of the groups fitted (the separated ones have none)."""
    names = list(model.design.beta_names)
    none_estimate, none_se = np.full(len(names), np.nan), np.full(len(names), np.nan)
    identity = np.eye(len(none.coef))
    for i, name in enumerate(names):
        if name not in npd.fixed_position or name in npd.spoiled:
            continue
        f = _mean_of_own(model.design, npd, name, separation,
                         identity[npd.fixed_position[name]])
        if none.estimable(f)[0]:
            none_estimate[i] = f @ none.coef
            none_se[i] = np.sqrt(f @ none.cov @ f)
    estimates = pd.DataFrame({"complete": complete.coef, "none": none_estimate,
                              "partial": model.fixef.to_numpy()}, index=names)
    errors = pd.DataFrame({"complete": np.sqrt(np.diag(complete.cov)), "none": none_se,
                           "partial": model.fixef_se.to_numpy()}, index=names)
    return estimates, errors


def _mean_of_own(design, npd: NoPoolingDesign, name: str, separation: Separation,
                 selector: np.ndarray) -> np.ndarray:
    blocks = [b for b in npd.blocks if b.sum_coded and b.column == name and b.start is not None]
    if not blocks or not separation.any:
        return selector
    block = blocks[0]
    group = block.group
    F = npd.own_coefficients(block)
    lost = set(separation.all_zero.get(group, [])) | set(separation.all_one.get(group, []))
    fitted = ~design.terms[block.term].levels.isin(list(lost))
    return F[fitted].mean(axis=0)


def _lrt(statistic: float, df: int) -> tuple[float, int, float]:
    statistic = max(2.0 * statistic, 0.0)
    return float(statistic), int(df), float(stats.chi2.sf(statistic, df)) if df > 0 else np.nan


def _random_effects_lrt(model, complete: GLMFit) -> tuple[float, int, float]:
    statistic = max(2.0 * (model.loglik - complete.loglik), 0.0)
    df = len(model.theta)
    single = sum(term.n_columns for term in model.design.terms) == 1
    return float(statistic), df, boundary_mixture(df, single_variance=single).p_value(statistic)


def _hausman(model, none: GLMFit, npd: NoPoolingDesign):
    term_columns = {c for term in model.design.terms for c in term.columns}
    names = [name for name in model.design.beta_names if name in npd.fixed_position
             and name not in term_columns and name != "(Intercept)"]
    identity = np.eye(len(none.coef))
    names = [name for name in names if none.estimable(identity[[npd.fixed_position[name]]])[0]]
    positions = [npd.fixed_position[name] for name in names]
    test = hausman_test(none.coef[positions], none.cov[np.ix_(positions, positions)],
                        model.fixef[names].to_numpy(), model.vcov.loc[names, names].to_numpy(),
                        names)
    return test, names


def _summary_table(complete: GLMFit, none: GLMFit, model) -> pd.DataFrame:
    rows = [(fit.n_params, fit.loglik, fit.aic, fit.bic) for fit in (complete, none)]
    rows.append((model.n_params, model.loglik, model.aic, model.bic))
    table = pd.DataFrame(rows, index=["complete", "none", "partial"],
                         columns=["n_params", "loglik", "aic", "bic"])
    return table.astype({"n_params": int})


def _mark_separated(table: pd.DataFrame, separation: Separation, group: str) -> pd.DataFrame:
    """−inf / +inf as the own intercepts of separated levels; their shrinkage is 1."""
    column = ("none", "(Intercept)")
    if column not in table.columns:
        return table
    table = table.copy()
    for levels, value in ((separation.all_zero.get(group, []), -np.inf),
                          (separation.all_one.get(group, []), np.inf)):
        rows = table.index.isin(levels)
        table.loc[rows, column] = value
        if ("shrinkage", "(Intercept)") in table.columns:
            table.loc[rows, ("shrinkage", "(Intercept)")] = 1.0
    return table


def _verdict(lrt_groups, lrt_random, hausman, names, alpha: float) -> str:
    from lmmpy.diagnostics._report import PoolingTests

    statistic, df, p = lrt_groups
    text = f"χ² = {statistic:.2f}, df = {df}, {_p(p)}"
    first = (f"The group dummies improve the GLM ({text}): the groups are not identical, so "
             "complete pooling is contradicted." if _significant(p, alpha) else
             f"The group dummies do not significantly improve the GLM ({text}): the data do "
             "not contradict complete pooling, though this does not show that the groups "
             "are identical.")
    tests = PoolingTests(f=lrt_groups, lrt=lrt_random, hausman=hausman,
                         hausman_names=tuple(names), f_df_denominator=0)
    return " ".join([first, _lrt_sentence(tests, alpha), _hausman_sentence(tests, alpha),
                     "Whether the groups are a sample from a population (partial pooling) or "
                     "are themselves the population of interest (no pooling) is a question "
                     "about the design that these tests do not answer.",
                     f"(Significance level {alpha:g}.)"])


def _notes(model, npd: NoPoolingDesign, separation: Separation, none: GLMFit,
           names: list[str]) -> list[str]:
    notes = [f"All three on the link scale ({model.family.link.name}); log-likelihoods are "
             "R's: the GLMs' exact, the GLMM's its Laplace (AGQ) approximation."]
    for group in dict.fromkeys(list(separation.all_zero) + list(separation.all_one)):
        zero, one = separation.all_zero.get(group, []), separation.all_one.get(group, [])
        parts = ([f"all 0: {', '.join(map(str, zero))}"] if zero else []) + \
                ([f"all 1: {', '.join(map(str, one))}"] if one else [])
        notes.append(
            f"separation in {group} ({'; '.join(parts)}): without pooling these groups' own "
            "coefficients are −inf / +inf (the maximum likelihood is at infinity; R's glm "
            "stops at a large value and warns that fitted probabilities are numerically 0 or "
            "1); the no-pooling GLM and the LRT of the dummies use the other groups' "
            f"{int(separation.keep.sum())} rows. Partial pooling keeps them finite.")
    if any(b.sum_coded for b in npd.blocks):
        notes.append("none: the coefficients of columns with group-specific values are the "
                     "unweighted means of the groups' own (sum-to-zero coding)"
                     + (", over the groups without separation." if separation.any else "."))
    if npd.absorbed:
        notes.append(f"none: {', '.join(npd.absorbed)} not estimable — absorbed by the group "
                     "dummies (group-level predictors).")
    if not none.converged:
        notes.append("none: IRLS did not converge; a covariate may separate the outcomes.")
    if names:
        notes.append(f"Hausman: compares {', '.join(names)}.")
    return notes


@dataclass(frozen=True, eq=False)
class _LinkScale:
    """What :func:`group_estimates` reads of a model, on the GLMM's link scale."""

    design: object
    fitted: pd.Series
    solution: object
    fixef: pd.Series
    theta: np.ndarray
    sigma: float

    @classmethod
    def of(cls, model) -> _LinkScale:
        weights = model.system.response.working(model.state.eta, model.design.offset)[0]
        solution = _Solution(model.state.beta, model._b)
        return cls(replace(model.design, weights=weights),
                   pd.Series(model.state.eta, index=model.row_index), solution, model.fixef,
                   model.theta, 1.0)


@dataclass(frozen=True)
class _Solution:
    beta: np.ndarray
    b: np.ndarray


@dataclass(frozen=True, eq=False)
class _NoPooling:
    """The no-pooling GLM as :func:`group_estimates` uses an OLS fit: coefficients,
    estimability, and the projection of a linear predictor on the design's columns."""

    coef: np.ndarray
    fit: GLMFit
    full: object

    @classmethod
    def of(cls, none: GLMFit, matrix: np.ndarray) -> _NoPooling:
        return cls(none.coef, none, ols(matrix, np.zeros(len(matrix))))

    def estimable(self, F: np.ndarray) -> np.ndarray:
        return self.fit.estimable(F)

    def project(self, values: np.ndarray) -> np.ndarray:
        return self.full.project(values)
