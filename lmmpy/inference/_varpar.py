"""Variance parameters on the standard-deviation/correlation scale, and back to θ.

A random-effects term with relative covariance factor T (k×k lower triangular,
θ its free entries) has covariance Σ = σ² T T'.  lme4 reports and profiles Σ
through its standard deviations s_i = √Σ_ii and correlations
ρ_ij = Σ_ij / (s_i s_j), written in θ's order (column-major lower triangle:
``sd_1, cor_21, cor_31, sd_2, cor_32, sd_3``) and followed by σ — lme4's
``Cv_to_Sv`` / ``Sv_to_Cv`` and the names of ``confint(m, oldNames = FALSE)``:
``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``, ``sigma``.

Going back, T is the Cholesky factor of Σ/σ², computed so that a positive
*semi*-definite Σ (a standard deviation of zero, a correlation of ±1) has one;
a Σ that is not positive semi-definite (three correlations that cannot occur
together) has none.  A correlation with a standard deviation of zero is
undefined; it is reported as 0, as lme4's ``cov2sdcor`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lmmpy.design import RandomEffectsTerm
    from lmmpy.results import LinearMixedModel

SIGMA = "sigma"
_PSD_TOL = 1e-12


@dataclass(frozen=True, eq=False)
class TermShape:
    """The θ layout of a term, computed once (profiling evaluates the maps thousands of times).

    Has the attributes of :class:`~lmmpy.design.RandomEffectsTerm` this module uses.
    """

    n_columns: int
    theta_rows: np.ndarray
    theta_cols: np.ndarray
    correlated: bool

    @property
    def n_theta(self) -> int:
        return len(self.theta_rows)

    def template(self, theta: np.ndarray) -> np.ndarray:
        T = np.zeros((self.n_columns, self.n_columns))
        T[self.theta_rows, self.theta_cols] = theta
        return T


def term_shapes(terms) -> tuple[TermShape, ...]:
    """Precomputed θ layouts of the terms (pass them where terms are expected)."""
    return tuple(TermShape(term.n_columns, np.asarray(term.theta_rows),
                           np.asarray(term.theta_cols), term.correlated) for term in terms)


def variance_parameter_names(terms: tuple[RandomEffectsTerm, ...]) -> list[str]:
    """lme4's ``oldNames = FALSE`` names of the SDs and correlations, then ``sigma``.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> variance_parameter_names(m.design.terms)
    ['sd_(Intercept)|Subject', 'cor_Days.(Intercept)|Subject', 'sd_Days|Subject', 'sigma']
    """
    names = []
    for term in terms:
        for row, col in zip(term.theta_rows, term.theta_cols, strict=True):
            if row == col:
                names.append(f"sd_{term.columns[row]}|{term.group_name}")
            else:
                names.append(f"cor_{term.columns[row]}.{term.columns[col]}|{term.group_name}")
    return [*names, SIGMA]


def parameter_names(model) -> list[str]:
    """The parameters of ``confint`` and the bootstrap's default statistic: SDs and
    correlations, ``sigma`` (a GLMM's only with a dispersion parameter), fixed effects.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))
    >>> parameter_names(m)
    ['sd_(Intercept)|Batch', 'sigma', '(Intercept)']
    """
    names = variance_parameter_names(model.design.terms)
    if model.is_generalized and not model.family.has_dispersion:
        names = [name for name in names if name != SIGMA]
    return [*names, *model.fixef.index]


def is_correlation(terms: tuple[RandomEffectsTerm, ...]) -> np.ndarray:
    """For each variance parameter (σ last): is it a correlation?"""
    flags = [row != col for term in terms
             for row, col in zip(term.theta_rows, term.theta_cols, strict=True)]
    return np.array([*flags, False])


def sdcor_from_theta(terms: tuple[RandomEffectsTerm, ...], theta: np.ndarray,
                     sigma: float) -> np.ndarray:
    """θ and σ → (SDs and correlations in θ's order, σ).

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> sdcor_from_theta(m.design.terms, m.theta, m.sigma).round(2)
    array([24.74,  0.07,  5.92, 25.59])
    """
    values, start = [], 0
    for term in terms:
        T = term.template(theta[start:start + term.n_theta])
        values.append(_sdcor_of_term(term, sigma**2 * T @ T.T))
        start += term.n_theta
    return np.concatenate([*values, [sigma]])


def theta_from_sdcor(terms: tuple[RandomEffectsTerm, ...], values: np.ndarray) -> np.ndarray | None:
    """(SDs and correlations, σ) → θ; None when a term's Σ is not positive semi-definite.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> v = sdcor_from_theta(m.design.terms, m.theta, m.sigma)
    >>> bool(np.allclose(theta_from_sdcor(m.design.terms, v), m.theta))
    True
    """
    sigma = values[-1]
    thetas, start = [], 0
    for term in terms:
        covariance = _covariance_of_term(term, values[start:start + term.n_theta])
        T = _semidefinite_cholesky(covariance / sigma**2)
        if T is None:
            return None
        thetas.append(T[term.theta_rows, term.theta_cols])
        start += term.n_theta
    return np.concatenate(thetas)


def model_sdcor(model: LinearMixedModel) -> np.ndarray:
    """The fitted model's SDs, correlations and σ (lme4's profile/boot parameters)."""
    return sdcor_from_theta(model.design.terms, model.theta, model.sigma)


def _sdcor_of_term(term: RandomEffectsTerm, covariance: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(covariance))
    out = []
    for row, col in zip(term.theta_rows, term.theta_cols, strict=True):
        if row == col:
            out.append(sd[row])
        else:
            scale = sd[row] * sd[col]
            out.append(covariance[row, col] / scale if scale > 0 else 0.0)
    return np.array(out)


def _covariance_of_term(term: RandomEffectsTerm, values: np.ndarray) -> np.ndarray:
    k = term.n_columns
    sd = np.zeros(k)
    correlation = np.eye(k)
    for value, row, col in zip(values, term.theta_rows, term.theta_cols, strict=True):
        if row == col:
            sd[row] = value
        else:
            correlation[row, col] = correlation[col, row] = value
    return correlation * np.outer(sd, sd)


def _semidefinite_cholesky(S: np.ndarray) -> np.ndarray | None:
    """Lower-triangular T with T T' = S for positive semi-definite S (zero pivots allowed)."""
    k = len(S)
    T = np.zeros_like(S)
    scale = max(float(np.max(np.abs(np.diag(S)))), 1.0)
    for j in range(k):
        pivot = S[j, j] - T[j, :j] @ T[j, :j]
        if pivot < -_PSD_TOL * scale:
            return None
        T[j, j] = np.sqrt(max(pivot, 0.0))
        below = S[j + 1:, j] - T[j + 1:, :j] @ T[j, :j]
        if T[j, j] > 0:
            T[j + 1:, j] = below / T[j, j]
        elif np.any(np.abs(below) > np.sqrt(_PSD_TOL) * scale):
            return None
    return T


class ProfileCoordinates:
    """Box-bounded coordinates for the variance parameters, one of them held fixed.

    Profiling re-optimises the other SDs, correlations and σ.  With three or more
    random effects in a term, correlations in [−1, 1] need not make a positive
    semi-definite matrix, and an optimizer stopped by such walls settles away from
    the optimum.  So each term's correlation matrix is written R = L L' with the
    rows of L unit vectors in hyperspherical angles φ ∈ [0, π] (Pinheiro & Bates
    1996): every angle vector gives a valid R and every valid R has angles.  A
    held correlation ρ_ab is made the first row pair (variables permuted a, b,
    rest), so it is the single angle arccos ρ_ab, left out of the coordinates.
    Coordinates: per term the SDs then the angles, then σ (the held one omitted).

    References
    ----------
    Pinheiro, J. C. & Bates, D. M. (1996). Unconstrained parametrizations for
    variance-covariance matrices. Statistics and Computing 6, 289-296.
    """

    def __init__(self, terms: tuple[RandomEffectsTerm, ...], fixed: int):
        self.terms, self.fixed = terms, fixed
        self._blocks = []  # per term: (slice in values, order, holds the fixed correlation)
        start = 0
        for term in terms:
            local = fixed - start if start <= fixed < start + term.n_theta else None
            order = _term_order(term, local)
            holds = local is not None and term.theta_rows[local] != term.theta_cols[local]
            self._blocks.append((slice(start, start + term.n_theta), order, holds))
            start += term.n_theta
        self.n_values = start + 1
        lower, upper = self._bounds()
        self.lower, self.upper = lower, upper

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Coordinates of (SDs, correlations, σ); the held parameter is dropped."""
        parts = []
        for term, (where, order, holds) in zip(self.terms, self._blocks, strict=True):
            sd, R = _sd_and_correlation(term, values[where])
            parts.append(self._free_sds(term, where, sd))
            if term.correlated and term.n_columns > 1:
                L = _semidefinite_cholesky(R[np.ix_(order, order)])
                L = np.eye(len(R)) if L is None else L
                parts.append(_angles_of_rows(L, skip_first=holds))
        parts.append([] if self.fixed == self.n_values - 1 else [values[-1]])
        return np.concatenate([np.asarray(p, dtype=float) for p in parts])

    def decode(self, x: np.ndarray, fixed_value: float) -> np.ndarray:
        """(SDs, correlations, σ) from the coordinates and the held parameter's value."""
        values = np.zeros(self.n_values)
        at = 0
        for term, (where, order, holds) in zip(self.terms, self._blocks, strict=True):
            k = term.n_columns
            slots = [i for i in range(where.start, where.stop) if self._is_free_sd(term, where, i)]
            values[slots] = x[at:at + len(slots)]
            at += len(slots)
            if term.correlated and k > 1:
                n_angles = k * (k - 1) // 2 - holds
                held = np.arccos(np.clip(fixed_value, -1, 1)) if holds else None
                L = _rows_of_angles(x[at:at + n_angles], k, held)
                at += n_angles
                inverse = np.argsort(order)
                _put_correlations(term, values[where], (L @ L.T)[np.ix_(inverse, inverse)])
        if self.fixed != self.n_values - 1:
            values[-1] = x[at]
        values[self.fixed] = fixed_value
        return values

    def _is_free_sd(self, term, where: slice, i: int) -> bool:
        local = i - where.start
        return term.theta_rows[local] == term.theta_cols[local] and i != self.fixed

    def _free_sds(self, term, where: slice, sd: np.ndarray) -> list[float]:
        return [sd[term.theta_rows[i - where.start]] for i in range(where.start, where.stop)
                if self._is_free_sd(term, where, i)]

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lower, upper = [], []
        for term, (where, _, holds) in zip(self.terms, self._blocks, strict=True):
            n_sd = sum(self._is_free_sd(term, where, i) for i in range(where.start, where.stop))
            k = term.n_columns
            n_angles = k * (k - 1) // 2 - holds if term.correlated and k > 1 else 0
            lower += [0.0] * (n_sd + n_angles)
            upper += [np.inf] * n_sd + [np.pi] * n_angles
        if self.fixed != self.n_values - 1:
            lower.append(0.0)
            upper.append(np.inf)
        return np.array(lower), np.array(upper)


def _term_order(term: RandomEffectsTerm, local: int | None) -> np.ndarray:
    k = term.n_columns
    if local is None or term.theta_rows[local] == term.theta_cols[local]:
        return np.arange(k)
    pair = [int(term.theta_cols[local]), int(term.theta_rows[local])]
    return np.array(pair + [i for i in range(k) if i not in pair])


def _sd_and_correlation(term: RandomEffectsTerm, values: np.ndarray):
    covariance = _covariance_of_term(term, values)
    sd = np.sqrt(np.diag(covariance))
    scale = np.where(sd > 0, sd, 1.0)
    R = covariance / np.outer(scale, scale)
    np.fill_diagonal(R, 1.0)
    return sd, R


def _put_correlations(term: RandomEffectsTerm, out: np.ndarray, R: np.ndarray) -> None:
    for i, (row, col) in enumerate(zip(term.theta_rows, term.theta_cols, strict=True)):
        if row != col:
            out[i] = np.clip(R[row, col], -1.0, 1.0)


def _angles_of_rows(L: np.ndarray, skip_first: bool) -> list[float]:
    """Hyperspherical angles of rows 1..k−1 of L (unit rows, last entry ≥ 0)."""
    angles = []
    for i in range(1, len(L)):
        row = L[i, :i + 1] / max(np.linalg.norm(L[i, :i + 1]), 1e-300)
        tail = np.sqrt(np.cumsum(row[::-1] ** 2)[::-1])  # ‖row[j:]‖
        row_angles = [np.arctan2(tail[j + 1], row[j]) for j in range(i)]
        angles += row_angles[1:] if (skip_first and i == 1) else row_angles
    return angles


def _rows_of_angles(angles: np.ndarray, k: int, held: float | None) -> np.ndarray:
    """L with unit rows from angles (row 1's single angle ``held`` when given)."""
    L = np.zeros((k, k))
    L[0, 0] = 1.0
    at = 0
    for i in range(1, k):
        if i == 1 and held is not None:
            row_angles = [held]
        else:
            row_angles = angles[at:at + i]
            at += i
        sines = np.concatenate([[1.0], np.cumprod(np.sin(row_angles))])
        L[i, :i] = np.cos(row_angles) * sines[:-1]
        L[i, i] = sines[-1]
    return L
