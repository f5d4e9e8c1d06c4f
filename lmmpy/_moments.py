"""A start for θ from moments, for models whose evaluations are expensive.

lme4 starts θ at 1 (each random effect as variable as the noise).  On a large
crossed model (users × items: an evaluation factors an 8,000-square dense
Schur complement, ~5 s, and its gradient ~13 s) the first four of nine
evaluations went to EM steps and their aftermath from there (crossed-100k's
3,004-square complement: 8 evaluations from θ = 1, 6 from moments).  For random intercepts only,
``y = Xβ + Σ_t a_t[g_t] + ε``, unbiased moment estimates of the variances take
O(n) time (Gao & Owen 2017, *Efficient moment calculations for variance
components in large unbalanced crossed random effects models*, EJS 11(1)):
with e the least-squares residuals and, over ordered pairs of rows,

    U_t = Σ_{pairs in one level of g_t} (e_r − e_s)²,   U_0 = Σ_{all pairs} (e_r − e_s)²,

    E[U_t] = 2σ²P_t + Σ_{t'≠t} 2σ_{t'}²(P_t − P_{tt'}),
    E[U_0] = 2σ²(n² − n) + Σ_t 2σ_t²(n² − Σ_l n_l²),

P_t the pairs sharing a level of g_t, P_{tt'} those sharing one of g_t and
one of g_t' (the residuals' own estimation is ignored: a start needs no
more).  Solving the K + 1 equations gives θ_t = σ_t/σ, each at least
``FLOOR`` so that no term starts on its bound.  The optimum is the
optimizer's, from wherever it starts: this only shortens the way.
"""

from __future__ import annotations

import numpy as np

MIN_SIZE = 2500   # the dense factor's order from which a fit starts from moments (past the
                  # blocked path's always-dense size: 0.1 s or more an evaluation)
FLOOR = 0.05      # the smallest θ a moment start gives


def moment_start(design, objective) -> np.ndarray | None:
    """θ from moments (module docstring) when every random-effects term is a scalar
    intercept, there are no prior weights and an evaluation factors a dense matrix of
    at least ``MIN_SIZE`` (else None: lme4's start).

    Examples
    --------
    >>> import lmmpy
    >>> d = lmmpy.datasets.load("Penicillin")
    >>> m = lmmpy.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", d)
    >>> moment_start(m.design, m.objective) is None     # small: lme4's start
    True
    """
    from lmmpy._threads import dense_size

    if objective.path == "dense" or dense_size(objective) < MIN_SIZE:
        return None
    return moment_theta(design)


def moment_theta(design) -> np.ndarray | None:
    """The moment estimate of θ (module docstring), or None when it does not apply
    (a term that is not a scalar intercept, prior weights, no residual variance).

    Examples
    --------
    >>> import lmmpy
    >>> d = lmmpy.datasets.load("Penicillin")
    >>> m = lmmpy.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", d, reml=False)
    >>> np.round(moment_theta(m.design), 1).tolist(), np.round(m.theta, 1).tolist()   # θ̂
    ([1.5, 3.5], [1.5, 3.2])
    """
    system = moment_system(design)
    if system is None:
        return None
    try:
        variances = np.linalg.solve(*system)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(variances)) or variances[0] <= 0:
        return None
    return np.maximum(np.sqrt(np.maximum(variances[1:], 0.0) / variances[0]), FLOOR)


def moment_system(design) -> tuple[np.ndarray, np.ndarray] | None:
    """(A, b) with A [σ², σ_1², …, σ_K²] = b the halved moment equations (module
    docstring): rows t = 1..K for U_t, the last for U_0; None when they do not apply."""
    terms = design.terms
    if (not terms or design.weights is not None
            or any(term.n_columns != 1 or term.columns != ("(Intercept)",) for term in terms)):
        return None
    y = np.asarray(design.y, dtype=float)
    if design.offset is not None:
        y = y - np.asarray(design.offset, dtype=float)
    X = np.asarray(design.X.values, dtype=float)
    e = y - X @ np.linalg.lstsq(X, y, rcond=None)[0] if X.shape[1] else y
    n = len(e)
    codes = [np.asarray(term.codes) for term in terms]
    counts = [np.bincount(c, minlength=term.n_levels).astype(float)
              for c, term in zip(codes, terms, strict=True)]
    K = len(terms)
    A = np.zeros((K + 1, K + 1))   # unknowns: σ², σ_1², …, σ_K²
    b = np.zeros(K + 1)
    for t in range(K):
        same = float(np.sum(counts[t] * (counts[t] - 1)))
        sums = np.bincount(codes[t], weights=e, minlength=len(counts[t]))
        squares = np.bincount(codes[t], weights=e * e, minlength=len(counts[t]))
        b[t] = np.sum(counts[t] * squares - sums**2)          # U_t / 2
        A[t, 0] = same
        for u in range(K):
            if u != t:
                A[t, u + 1] = same - _pairs_in_both(codes[t], codes[u], counts[u].size)
    b[K] = n * float(e @ e) - float(e.sum()) ** 2
    A[K, 0] = n * n - n
    A[K, 1:] = [n * n - float(np.sum(c**2)) for c in counts]
    return A, b


def _pairs_in_both(first: np.ndarray, second: np.ndarray, n_second: int) -> float:
    """Ordered pairs of distinct rows in one level of both factors."""
    _, cell = np.unique(first.astype(np.int64) * n_second + second, return_counts=True)
    cell = cell.astype(float)
    return float(np.sum(cell * (cell - 1)))
