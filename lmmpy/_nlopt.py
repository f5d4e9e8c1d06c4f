"""NLopt's run, kept to its best point: a stop on rounding is a result, not an error.

NLopt's Python interface raises ``RoundoffLimited`` when rounding stops the
progress of a derivative-free method, and returns no point.  That stop is
usually at the optimum to the objective's resolution (a PIRLS-based criterion
is a little noisy there); the best point evaluated is the answer, and the
caller's convergence checks judge it as any other.
"""

from __future__ import annotations

from collections.abc import Callable

import nlopt
import numpy as np

MESSAGES = {
    nlopt.SUCCESS: "success",
    nlopt.STOPVAL_REACHED: "stopval reached",
    nlopt.FTOL_REACHED: "ftol_abs reached",
    nlopt.XTOL_REACHED: "xtol_abs or xtol_rel reached",
    nlopt.MAXEVAL_REACHED: "maximum number of evaluations reached",
    nlopt.MAXTIME_REACHED: "maximum time reached",
}
ROUNDOFF = "roundoff-limited (the best point evaluated kept)"


def run(optimizer: nlopt.opt, function: Callable[[np.ndarray], float],
        start: np.ndarray) -> tuple[np.ndarray, float, str]:
    """Minimise ``function`` with the configured ``optimizer`` from ``start``: (x, f(x),
    how it stopped), x the best point evaluated.

    Examples
    --------
    >>> opt = nlopt.opt(nlopt.LN_BOBYQA, 1)
    >>> opt.set_xtol_rel(1e-8)
    >>> x, value, message = run(opt, lambda t: float((t[0] - 2.0) ** 2), np.array([0.0]))
    >>> round(float(x[0]), 5), message
    (2.0, 'xtol_abs or xtol_rel reached')
    """
    best = {"x": np.array(start, dtype=float), "f": np.inf}

    def recorded(x: np.ndarray, gradient=None) -> float:
        value = float(function(x))
        if value < best["f"]:
            best["x"], best["f"] = np.array(x, dtype=float), value
        return value

    optimizer.set_min_objective(recorded)
    try:
        optimizer.optimize(np.asarray(start, dtype=float))
    except nlopt.RoundoffLimited:
        return best["x"], best["f"], ROUNDOFF
    return best["x"], best["f"], MESSAGES.get(optimizer.last_optimize_result(), "stopped")
