"""PIRLS's per-row arithmetic in one compiled pass each (numba): the deviance of the
step check for the binomial family with the logit link, the weighted rows of the
cross-products, and (once, at set-up) the weight-free table those are made from.

A PIRLS step on a few thousand rows is dominated by the call overhead of numpy
expressions that each allocate an n-vector.  ``logit_deviance`` computes Σ d_i at
μ = logistic(η) with the formulas of :mod:`lmmpy._families` (R's clamping at
|η| > 30, ``xlogy``), μ from one exponential; it differs from the numpy expressions by
rounding only, and only decides whether a step lowers pdev (the working weights, the
modes and the criterion keep the numpy expressions, so a converged state is the same
to the last bits).  :mod:`lmmpy.glmm._response` calls it for ``Binomial("logit")``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

EPS = np.finfo(float).eps
_BOUND = 30.0   # _families._LOGIT_BOUND


@numba.njit(cache=True, nogil=True)
def _logistic(eta: float, e: float) -> float:  # pragma: no cover - compiled
    """μ at η from e = exp(−|η|) (one exponential for μ and dμ/dη; scipy's expit is
    1/(1 + exp(−η)), the same for η ≥ 0 and within an ulp below)."""
    if eta < -_BOUND:
        return EPS
    if eta > _BOUND:
        return 1.0 - EPS
    return 1.0 / (1.0 + e) if eta >= 0.0 else e / (1.0 + e)


@numba.njit(cache=True, nogil=True)
def logit_deviance(eta: np.ndarray, y: np.ndarray,
                   prior: np.ndarray) -> float:  # pragma: no cover - compiled
    """Σ 2 wt (y log(y/μ) + (1 − y) log((1 − y)/(1 − μ))) at μ = logistic(η) (0 log 0 = 0)."""
    total = 0.0
    for i in range(len(eta)):
        mu = _logistic(eta[i], math.exp(-abs(eta[i])))
        yi = y[i]
        term = 0.0
        if yi != 0.0:
            term += yi * math.log(yi / mu)
        if yi != 1.0:
            term += (1.0 - yi) * math.log((1.0 - yi) / (1.0 - mu))
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
