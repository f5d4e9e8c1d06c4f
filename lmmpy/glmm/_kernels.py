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
def lower_product_table(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, q: int,
                        unit: bool, L_indices: np.ndarray,
                        L_data: np.ndarray) -> tuple:  # pragma: no cover - compiled
    """The lower table of :class:`lmmpy.glmm._weighted.WeightedCrossProducts` from Z in
    CSR (``indptr``, ``indices`` sorted within rows, ``data``; q columns): one row per
    entry (a, b), a ≥ b, of Z'Z's pattern, column-major, a ascending within a column,
    holding the rows i where Z_ia and Z_ib are both stored, ascending (``L_indices``,
    sized Σ_i k_i (k_i + 1) / 2 for k_i entries in row i), with Z_ia Z_ib (``L_data``,
    not filled when ``unit``: Z's values all 1).

    Every pair (a ≥ b) of a row's entries, made in row order, is dealt stably by a, then
    stably by b (two counting sorts, O(pairs + q)): they come out in (b, a, i) order and
    the runs of equal (b, a) are the entries.  Returns L's row pointer, each entry's
    place in Z'Z's full (both triangles) CSC data and in its mirror image (the same
    place on the diagonal), and the full pattern's row indices and column pointer."""
    n = len(indptr) - 1
    by_a = np.zeros(q + 1, dtype=np.int64)   # pairs with a given a, then a given b
    by_b = np.zeros(q + 1, dtype=np.int64)
    for i in range(n):
        low, high = indptr[i], indptr[i + 1]
        for s in range(low, high):
            by_a[indices[s] + 1] += s - low + 1   # (s, t), t ≤ s: b ≤ a (sorted row)
            by_b[indices[s] + 1] += high - s
    for a in range(q):
        by_a[a + 1] += by_a[a]
        by_b[a + 1] += by_b[a]
    total = by_a[q]
    pair_b = np.empty(total, dtype=np.int32)
    pair_i = np.empty(total, dtype=L_indices.dtype)
    pair_v = np.empty(0 if unit else total)
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
    pair_a = np.empty(total, dtype=np.int32)
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
    lower = np.zeros(q, dtype=np.int64)   # entries in column b (a ≥ b)
    upper = np.zeros(q, dtype=np.int64)   # entries in row a left of the diagonal (b < a)
    entries = 0
    for b in range(q):
        for at in range(by_b[b], by_b[b + 1]):
            if at == by_b[b] or pair_a[at] != pair_a[at - 1]:
                entries += 1
                lower[b] += 1
                if pair_a[at] != b:
                    upper[pair_a[at]] += 1
    column_ptr = np.zeros(q + 1, dtype=np.int32)   # the full pattern's: Z'Z is symmetric
    for c in range(q):
        column_ptr[c + 1] = column_ptr[c] + upper[c] + lower[c]
    full_indices = np.empty(column_ptr[q], dtype=np.int32)
    L_indptr = np.empty(entries + 1, dtype=L_indices.dtype)
    lower_at = np.empty(entries, dtype=np.int32)
    upper_at = np.empty(entries, dtype=np.int32)
    upper_cursor = column_ptr[:q].astype(np.int64)   # column a's upper part fills first
    entry = 0
    for b in range(q):
        here = column_ptr[b] + upper[b]   # column b's lower part follows its upper part
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
    L_indptr[entries] = total
    return L_indptr, lower_at, upper_at, full_indices, column_ptr
