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


# ---- intervals: emmeans' .adj.critval ----------------------------------------------------

def critical_values(level: float, df: np.ndarray, adjust: str, n_means: int, rank: int
                    ) -> tuple[np.ndarray, str]:
    """Half-widths in SEs of one family's simultaneous intervals, and the adjustment used.

    As emmeans: Tukey's studentized range (pairwise differences), Scheffé's
    √(r F_{r,ν}(level)), Šidák's and Bonferroni's t quantiles; the step-wise p-value
    methods (Holm, Hochberg, FDR, BY) have no interval and use Bonferroni's;
    ``"dunnettx"`` solves emmeans' approximate Dunnett distribution for ``level``
    (exactly: emmeans' root finder stops within 5e-4).  One contrast is not adjusted
    (except by Scheffé's method).
    """
    df = np.asarray(df, dtype=float)
    m = len(df)
    if adjust in _P_ADJUST:
        adjust = "bonferroni"
    if m == 1 and adjust != "scheffe":
        adjust = "none"
    values = [_critical_value(level, d, adjust, m, n_means, rank) for d in df]
    return np.array(values, dtype=float), adjust


def _critical_value(level: float, df: float, adjust: str, m: int, n_means: int,
                    rank: int) -> float:
    t = stats.norm if np.isinf(df) else stats.t(df)
    if adjust == "none":
        return float(t.ppf(1 - (1 - level) / 2))
    if adjust == "sidak":
        return float(t.ppf(1 - (1 - level ** (1 / m)) / 2))
    if adjust == "bonferroni":
        return float(t.ppf(1 - (1 - level) / m / 2))
    if adjust == "tukey":
        return float(stats.studentized_range.ppf(level, n_means, df) / np.sqrt(2))
    if adjust == "scheffe":
        f = stats.chi2.ppf(level, rank) / rank if np.isinf(df) else stats.f.ppf(level, rank, df)
        return float(np.sqrt(rank * f))
    return _dunnettx_quantile(level, m, df)


def _dunnettx_quantile(level: float, m: int, df: float) -> float:
    """x with 1 − (1 − level) = emmeans' .pdunnx(x, m, df), between its Tukey and Šidák
    bounds."""
    from scipy.optimize import brentq

    low = stats.studentized_range.ppf(level, (1 + np.sqrt(1 + 8 * m)) / 2, df) / np.sqrt(2)
    high = np.sqrt(stats.chi2.ppf(level ** (1 / m), 1) if np.isinf(df)
                    else stats.f.ppf(level ** (1 / m), 1, df))
    if abs(high - low) < 5e-4:
        return float(low)
    a, b = sorted((low, high))
    return float(brentq(lambda x: 1 - _dunnettx_sf(x, m, df) - level, a, b, xtol=1e-12))


def interval_note(adjust: str, n_means: int, n_contrasts: int, rank: int) -> str:
    """emmeans' "Conf-level adjustment: ..." line ("" when there is none to report)."""
    if adjust == "none" or (adjust in ("tukey", "scheffe") and n_means < 3):
        return ""
    extra = {"tukey": f"for comparing a family of {n_means} estimates",
             "scheffe": f"with rank {rank}"}.get(adjust, f"for {n_contrasts} estimates")
    return f"Conf-level adjustment: {adjust} method {extra}"
