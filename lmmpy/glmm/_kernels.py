"""PIRLS's and the gradient's per-row arithmetic in compiled loops (numba): for the
binomial family with the logit link the deviance of the step check, the working weights
and response, μ and the gradient's row derivatives; the weighted rows of the
cross-products, and (once, at set-up) the weight-free table those are made from.

A PIRLS step on a few thousand rows is dominated by the call overhead of numpy
expressions that each allocate an n-vector.  ``logit_deviance`` computes Σ d_i at
μ = logistic(η) with the formulas of :mod:`lmmpy._families` (R's clamping at
|η| > 30, ``xlogy``), μ from one exponential; it differs from the numpy expressions by
rounding only, and only decides whether a step lowers pdev.  ``logit_working``,
``logit_inverse`` and ``logit_row_derivatives`` repeat the numpy expressions of
:mod:`lmmpy.glmm._response` and :mod:`lmmpy.glmm._gradient` operation by operation
(scipy's expit, numpy's ``**3`` as the library's ``pow``), so a converged state and a
gradient are the same to the last bits.  Each runs the library calls (exp, pow, log) in
a loop of their own and the arithmetic in another, which the compiler vectorises (the
divisions four at a time: on VerbAgg's 7,584 rows a tenth to a fifth less time).
:mod:`lmmpy.glmm._response` calls them for ``Binomial("logit")``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

EPS = np.finfo(float).eps
_BOUND = 30.0   # _families._LOGIT_BOUND


@numba.njit(cache=True, nogil=True)
def logit_deviance(eta: np.ndarray, y: np.ndarray,
                   prior: np.ndarray) -> float:  # pragma: no cover - compiled
    """Σ 2 wt (y log(y/μ) + (1 − y) log((1 − y)/(1 − μ))) at μ = logistic(η) (0 log 0 = 0),
    μ from e = exp(−|η|) (1/(1 + e) for η ≥ 0, e/(1 + e) below: scipy's expit for η ≥ 0
    and within an ulp below).  Three loops: the exponentials, the arithmetic up to the
    logarithms' arguments (vectorised by the compiler), the logarithms and the sum in
    row order; a 0/1 response takes its one logarithm without a branch on y."""
    n = len(eta)
    first, second = np.empty(n), np.empty(n)
    for i in range(n):
        first[i] = math.exp(-abs(eta[i]))
    for i in range(n):
        x, e = eta[i], first[i]
        if x < -_BOUND:
            mu = EPS
        elif x > _BOUND:
            mu = 1.0 - EPS
        else:
            mu = (1.0 if x >= 0.0 else e) / (1.0 + e)
        first[i] = y[i] / mu
        second[i] = (1.0 - y[i]) / (1.0 - mu)
    total = 0.0
    for i in range(n):
        yi = y[i]
        if yi == 1.0 or yi == 0.0:   # 1·log of one ratio (the other term is 0 log 0 = 0)
            term = math.log(first[i] if yi == 1.0 else second[i])
        else:
            term = yi * math.log(first[i]) + (1.0 - yi) * math.log(second[i])
        total += 2.0 * prior[i] * term
    return total


@numba.njit(cache=True, nogil=True)
def weighted_rows(Xy: np.ndarray, weights: np.ndarray, L_indptr: np.ndarray,
                  L_indices: np.ndarray, L_data: np.ndarray, lower_at: np.ndarray,
                  upper_at: np.ndarray, WXy: np.ndarray,
                  ZtWZ: np.ndarray) -> None:  # pragma: no cover - compiled
    """WXy[i] = w_i [X z]_i, and the stored entries of Z'WZ from the lower table L (CSR:
    for each entry (a, b), a ≥ b, the rows i whose nonzeros meet there, with Z_ia Z_ib;
    no values when Z's are all 1): Σ_i Z_ia Z_ib w_i, written at the entry's place in
    Z'WZ's lower and upper triangle (the same sum in the same order: the same value as a
    table of both triangles gave each).  Outputs overwritten."""
    n, width = Xy.shape
    for i in range(n):
        wi = weights[i]
        for j in range(width):
            WXy[i, j] = Xy[i, j] * wi
    unit = len(L_data) == 0
    for entry in range(len(L_indptr) - 1):
        total = 0.0
        if unit:   # 1·w_i is w_i exactly
            for t in range(L_indptr[entry], L_indptr[entry + 1]):
                total += weights[L_indices[t]]
        else:
            for t in range(L_indptr[entry], L_indptr[entry + 1]):
                total += L_data[t] * weights[L_indices[t]]
        ZtWZ[lower_at[entry]] = total
        ZtWZ[upper_at[entry]] = total


@numba.njit(cache=True, nogil=True)
def lower_pairs(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, unit: bool,
                pair_b: np.ndarray, pair_i: np.ndarray, pair_v: np.ndarray,
                L_indices: np.ndarray, L_data: np.ndarray, pair_a: np.ndarray,
                by_b: np.ndarray, lower: np.ndarray,
                upper: np.ndarray) -> int:  # pragma: no cover - compiled
    """The pairs of the lower table of :class:`lmmpy.glmm._weighted.WeightedCrossProducts`
    from Z in CSR (``indptr``, ``indices`` sorted within rows, ``data``): for every pair
    of entries of a row with columns a ≥ b, the row i (``L_indices``), Z_ia Z_ib
    (``L_data``, not filled when ``unit``: Z's values all 1) and a (``pair_a``), in
    (b, a, i) order; ``by_b`` (q + 1) the pairs' pointer by b, ``lower`` the entries
    (distinct a) of each column b, ``upper`` those of each row a left of the diagonal.
    ``pair_*`` are work arrays of one slot a pair (``pair_v`` empty when ``unit``).
    Returns the number of entries.

    Every pair, made in row order, is dealt stably by a, then stably by b (two counting
    sorts, O(pairs + q)), so the runs of equal (b, a) are the entries.  The arrays are
    the caller's: numpy's large allocations are backed by huge pages, the kernel's own
    fault a 4 kB page at a time (4× slower to fill on the 1,000,000-row model)."""
    n, q = len(indptr) - 1, len(lower)
    by_a = np.zeros(q + 1, dtype=np.int64)   # pairs with a given a, then b
    by_b[:] = 0
    for i in range(n):
        low, high = indptr[i], indptr[i + 1]
        for s in range(low, high):
            by_a[indices[s] + 1] += s - low + 1   # (s, t), t ≤ s: b ≤ a (sorted row)
            by_b[indices[s] + 1] += high - s
    for a in range(q):
        by_a[a + 1] += by_a[a]
        by_b[a + 1] += by_b[a]
    cursor = by_a[:q].copy()
    for i in range(n):   # rows ascending: stable in i
        low = indptr[i]
        for s in range(low, indptr[i + 1]):
            at = cursor[indices[s]]
            for t in range(low, s + 1):
                pair_b[at] = indices[t]
                pair_i[at] = i
                if not unit:
                    pair_v[at] = data[s] * data[t]
                at += 1
            cursor[indices[s]] = at
    cursor[:] = by_b[:q]
    for a in range(q):   # stably by b
        for at in range(by_a[a], by_a[a + 1]):
            b = pair_b[at]
            to = cursor[b]
            L_indices[to] = pair_i[at]
            if not unit:
                L_data[to] = pair_v[at]
            pair_a[to] = a
            cursor[b] = to + 1
    lower[:] = 0
    upper[:] = 0
    entries = 0
    for b in range(q):
        for at in range(by_b[b], by_b[b + 1]):
            if at == by_b[b] or pair_a[at] != pair_a[at - 1]:
                entries += 1
                lower[b] += 1
                if pair_a[at] != b:
                    upper[pair_a[at]] += 1
    return entries


@numba.njit(cache=True, nogil=True)
def lower_entries(pair_a: np.ndarray, by_b: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                  L_indptr: np.ndarray, lower_at: np.ndarray, upper_at: np.ndarray,
                  full_indices: np.ndarray,
                  column_ptr: np.ndarray) -> None:  # pragma: no cover - compiled
    """The entries of the lower table from :func:`lower_pairs`'s: L's row pointer, each
    entry's place in Z'Z's full (both triangles) CSC data and in its mirror image (the
    same place on the diagonal), and the full pattern's row indices and column pointer
    (column c: its rows b < c, the entries (c, b), then its entries (a, c), a ≥ c)."""
    q = len(lower)
    column_ptr[0] = 0
    for c in range(q):
        column_ptr[c + 1] = column_ptr[c] + upper[c] + lower[c]
    upper_cursor = column_ptr[:q].astype(np.int64)   # column a's upper part fills first
    entry = 0
    for b in range(q):
        here = column_ptr[b] + upper[b]
        for at in range(by_b[b], by_b[b + 1]):
            if at == by_b[b] or pair_a[at] != pair_a[at - 1]:
                a = pair_a[at]
                L_indptr[entry] = at
                lower_at[entry] = here
                full_indices[here] = a
                here += 1
                if a == b:
                    upper_at[entry] = lower_at[entry]
                else:   # b ascends: column a's rows b come in order
                    upper_at[entry] = upper_cursor[a]
                    full_indices[upper_cursor[a]] = b
                    upper_cursor[a] += 1
                entry += 1
    L_indptr[entry] = by_b[q]


@numba.njit(cache=True, nogil=True)
def _logit_exponentials(eta: np.ndarray, e: np.ndarray,
                        e_mu: np.ndarray) -> None:  # pragma: no cover - compiled
    """e = exp(−|η|) (dμ/dη's) and exp(−η) (μ's: scipy's expit 1/(1 + exp(−η))), the
    latter the same number as e for η ≥ 0.  The library calls in a loop of their own: the
    arithmetic after them then runs in a loop the compiler vectorises (its divisions four
    at a time), each operation the same, so the same bits."""
    for i in range(len(eta)):
        x = eta[i]
        e[i] = math.exp(-abs(x))
        e_mu[i] = e[i] if x >= 0.0 else math.exp(-x)


@numba.njit(cache=True, nogil=True, inline="always")
def _logit_mu(eta: float, e_mu: float) -> float:  # pragma: no cover - compiled
    """μ = logistic(η) as :func:`lmmpy._families._logit_inverse` (scipy's expit,
    1/(1 + exp(−η)), clamped beyond ±30) from e_mu = exp(−η): the same bits."""
    if eta < -_BOUND:
        return EPS
    if eta > _BOUND:
        return 1.0 - EPS
    return 1.0 / (1.0 + e_mu)


@numba.njit(cache=True, nogil=True, inline="always")
def _logit_slope(eta: float, e: float) -> float:  # pragma: no cover - compiled
    """dμ/dη as :func:`lmmpy._families._logit_mu_eta`: e/(1 + e)², e = exp(−|η|)."""
    if abs(eta) > _BOUND:
        return EPS
    return e / ((1.0 + e) * (1.0 + e))


@numba.njit(cache=True, nogil=True)
def logit_inverse(eta: np.ndarray, mu: np.ndarray) -> None:  # pragma: no cover - compiled
    """μ = logistic(η) into ``mu`` (the bits of the numpy expression)."""
    for i in range(len(eta)):
        mu[i] = _logit_mu(eta[i], math.exp(-eta[i]))


@numba.njit(cache=True, nogil=True)
def logit_working(eta: np.ndarray, offset: np.ndarray, y: np.ndarray, prior: np.ndarray,
                  weights: np.ndarray, z: np.ndarray) -> None:  # pragma: no cover - compiled
    """PIRLS's working weights wt (dμ/dη)²/V(μ) and response η − o + (y − μ)/(dμ/dη) for
    the logit link (``GlmResponse.working``'s numpy expressions, operation by operation:
    the same bits); the outputs hold the exponentials in between."""
    _logit_exponentials(eta, weights, z)
    for i in range(len(eta)):
        x = eta[i]
        mu = _logit_mu(x, z[i])
        slope = _logit_slope(x, weights[i])
        weights[i] = prior[i] * (slope * slope) / (mu * (1.0 - mu))
        z[i] = (x - offset[i]) + (y[i] - mu) / slope


@numba.njit(cache=True, nogil=True)
def logit_row_derivatives(eta: np.ndarray, y: np.ndarray, prior: np.ndarray,
                          scale: np.ndarray, size: np.ndarray, successes: np.ndarray,
                          d1: np.ndarray, d2: np.ndarray, W: np.ndarray, W1: np.ndarray,
                          aic1: np.ndarray) -> None:  # pragma: no cover - compiled
    """The gradient's per-row derivatives (``_gradient.row_derivatives``) for the binomial
    family with the logit link, each the numpy expression's operations in its order (the
    same bits): V = μ(1 − μ), V' = 1 − 2μ, μ'' = μ'(1 − 2μ) (0 beyond ±30), aic's
    derivative from R's counts (``Binomial.counts``) and μ'³ by the library's ``pow``
    (numpy's ``**3``).  The library calls first, in loops of their own (the outputs hold
    them in between), then the arithmetic in one the compiler vectorises."""
    n = len(eta)
    _logit_exponentials(eta, d1, d2)
    for i in range(n):
        W[i] = _logit_slope(eta[i], d1[i])
    for i in range(n):
        W1[i] = math.pow(W[i], 3.0)
    for i in range(n):
        x = eta[i]
        mu = _logit_mu(x, d2[i])
        m1, m1_cubed = W[i], W1[i]
        m2 = 0.0 if abs(x) > _BOUND else m1 * (1.0 - 2.0 * mu)
        V = mu * (1.0 - mu)
        V1 = 1.0 - 2.0 * mu
        wt, residual = prior[i], y[i] - mu
        d_mu = -2.0 * wt * residual / V
        d2_mu = 2.0 * wt * (1.0 / V + residual * V1 / (V * V))
        d1[i] = d_mu * m1
        d2[i] = d2_mu * (m1 * m1) + d_mu * m2
        W[i] = wt * (m1 * m1) / V
        W1[i] = wt * (2.0 * m1 * m2 / V - m1_cubed * V1 / (V * V))
        aic1[i] = (-2.0 * scale[i] * (successes[i] / mu - (size[i] - successes[i]) / (1.0 - mu))
                   * m1)
