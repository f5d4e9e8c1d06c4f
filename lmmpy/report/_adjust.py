"""Multiplicity adjustments of the p-values of a family of contrasts (emmeans' ``adjust``).

A family is the contrasts of one ``by`` group: m contrasts among k means,
each with its t ratio t and df ν (∞ for asymptotic tests), p the two-sided
t (or z) p-value.  As emmeans 1.8 (``.adj.p.value``):

* ``"tukey"``: P(Q_{k,ν} > √2 |t|), Q the studentized range of k means
  (R's ``ptukey``) — for the pairwise differences of one set of means only;
  for other families emmeans changes it to ``"sidak"`` (and says so);
* ``"scheffe"``: P(F_{r,ν} > t²/r), r the rank of the family's contrasts of β;
* ``"sidak"``: 1 − (1 − p)^m;
* ``"dunnettx"``: emmeans' approximation to Dunnett's many-to-one
  distribution, 1 − [w P(Q_{k',ν} < √2 |t|) + (1 − w) P(F_{1,ν} < t²)^m] with
  k' = (1 + √(1 + 8m))/2 and w = (m − 1)/m;
* ``"bonferroni"``, ``"holm"``, ``"hochberg"``, ``"fdr"`` (Benjamini–Hochberg,
  also ``"BH"``), ``"BY"`` (Benjamini–Yekutieli): R's ``p.adjust`` over the m
  contrasts (those not estimable count in m, as emmeans passes ``n``);
* ``"none"``.

A family of one contrast is not adjusted (except by Scheffé's method), as in
emmeans.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

ADJUSTMENTS = ("tukey", "scheffe", "sidak", "bonferroni", "dunnettx", "holm", "hochberg",
               "fdr", "BY", "none")
_ALIASES = {"bh": "fdr", "by": "BY"}
_P_ADJUST = ("bonferroni", "holm", "hochberg", "fdr", "BY")


def check_adjust(adjust: str) -> str:
    """The canonical name of a p-value adjustment (case is ignored; ``"BH"`` is ``"fdr"``)."""
    name = str(adjust).lower() if isinstance(adjust, str) else adjust
    name = _ALIASES.get(name, name)
    if name not in ADJUSTMENTS:
        choices = ", ".join(repr(a) for a in ADJUSTMENTS)
        raise ValueError(f"unknown adjust {adjust!r}: choose one of {choices}")
    return name


def two_sided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """2 P(T_ν > |t|), the normal where ν = ∞."""
    return np.array([2 * (stats.norm if np.isinf(d) else stats.t(d)).sf(abs(ti))
                     for ti, d in zip(t, df, strict=True)], dtype=float)


def adjust_family(t: np.ndarray, df: np.ndarray, adjust: str, n_means: int,
                  rank: int) -> np.ndarray:
    """Adjusted p-values of one family: m = len(t) contrasts among ``n_means`` means,
    ``rank`` the rank of its contrasts (Scheffé's r)."""
    t, df = np.asarray(t, dtype=float), np.asarray(df, dtype=float)
    raw = two_sided(t, df)
    m = len(t)
    if adjust == "none" or (m == 1 and adjust != "scheffe"):
        return raw
    if adjust in _P_ADJUST:
        return p_adjust(raw, adjust)
    if adjust == "sidak":
        return 1.0 - (1.0 - raw) ** m
    if adjust == "tukey":
        return np.array([_tukey_sf(abs(ti), n_means, d) for ti, d in zip(t, df, strict=True)])
    if adjust == "scheffe":
        return np.array([_f_sf(ti**2 / rank, rank, d) for ti, d in zip(t, df, strict=True)])
    return np.array([_dunnettx_sf(abs(ti), m, d) for ti, d in zip(t, df, strict=True)])


def p_adjust(p: np.ndarray, method: str) -> np.ndarray:
    """R's ``p.adjust(p, method, n = length(p))``; NaN entries stay NaN and count in n."""
    out = np.full(len(p), np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    n, values = len(p), p[tested]
    if method == "bonferroni":
        out[tested] = np.minimum(1.0, n * values)
        return out
    if method == "holm":  # step-down: the i-th smallest (from 0) times n − i, kept monotone
        order = np.argsort(values)
        stepped = np.maximum.accumulate((n - np.arange(len(order))) * values[order])
    else:  # step-up from the largest: i = lp, ..., 1
        order = np.argsort(values)[::-1]
        i = np.arange(len(order), 0, -1)
        factor = {"hochberg": n + 1 - i, "fdr": n / i,
                  "BY": np.sum(1.0 / np.arange(1, n + 1)) * n / i}[method]
        stepped = np.minimum.accumulate(factor * values[order])
    out[tested[order]] = np.minimum(1.0, stepped)
    return out


def _tukey_sf(q: float, k: int, df: float) -> float:
    if k < 2 or np.isnan(q):
        return float("nan")
    return float(np.clip(stats.studentized_range.sf(np.sqrt(2) * q, k, df), 0.0, 1.0))


def _f_sf(x: float, r: int, df: float) -> float:
    if np.isnan(x):
        return float("nan")
    return float(stats.chi2.sf(x * r, r) if np.isinf(df) else stats.f.sf(x, r, df))


def _dunnettx_sf(x: float, m: int, df: float) -> float:
    """1 − emmeans' ``.pdunnx(x, m, df)``."""
    if np.isnan(x):
        return float("nan")
    weight = (m - 1) / m
    tukey = stats.studentized_range.cdf(np.sqrt(2) * x, (1 + np.sqrt(1 + 8 * m)) / 2, df)
    sidak = (1.0 - _f_sf(x**2, 1, df)) ** m
    return float(np.clip(1.0 - (weight * tukey + (1 - weight) * sidak), 0.0, 1.0))


def adjust_note(adjust: str, n_means: int, n_contrasts: int, rank: int) -> str:
    """emmeans' "P value adjustment: ..." line (none for Tukey or Scheffé with two means)."""
    if adjust == "none" or n_contrasts == 0:
        return "P value adjustment: none"
    if adjust == "tukey":
        return f"P value adjustment: tukey method for comparing a family of {n_means} estimates"
    if adjust == "scheffe":
        return f"P value adjustment: scheffe method with rank {rank}"
    return f"P value adjustment: {adjust} method for {n_contrasts} tests"
