"""Named checks of the fitting functions' arguments (``lmer``, ``refit``).

Each raises a TypeError or ValueError that names the argument and says what
it must be, before the argument can turn into a silently wrong fit (a
``reml="no"`` that counts as true, a NaN start that gives NaN estimates).
"""

from __future__ import annotations

import numpy as np


def check_bool(value: object, name: str) -> bool:
    """``value`` must be True or False (numpy's bool too), not merely truthy.

    Examples
    --------
    >>> check_bool(False, "reml")
    False
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise TypeError(f"{name} must be True or False, not {value!r}")


def check_start(start: object, lower: np.ndarray) -> np.ndarray:
    """A starting θ: one finite number per θ (lme4's order), none below its bound."""
    try:
        theta = np.array(start, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"start must be numbers (θ in lme4's order), not {start!r}") from error
    if theta.shape != lower.shape:
        raise ValueError(f"start must have {len(lower)} values (θ in lme4's order), "
                         f"not {theta.shape}")
    if not np.all(np.isfinite(theta)):
        bad = np.flatnonzero(~np.isfinite(theta)).tolist()
        raise ValueError(f"start must be finite: θ at position(s) {bad} is {theta[bad[0]]}")
    below = np.flatnonzero(theta < lower)
    if below.size:
        raise ValueError(
            f"start θ at position(s) {below.tolist()} is below its lower bound 0 (a "
            "standard-deviation ratio on the diagonal of Λ cannot be negative)"
        )
    return theta


def check_new_response(y: object, n_obs: int) -> np.ndarray:
    """A response for ``refit``: one finite number per row the model used."""
    try:
        values = np.array(y, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError("the new response must be numbers") from error
    if values.shape != (n_obs,):
        raise ValueError(f"new response must have {n_obs} values, not shape {values.shape}")
    if not np.all(np.isfinite(values)):
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(
            f"new response has a non-finite value ({values[row]}) at position {row}; refit "
            "keeps the model's rows: fit the model afresh with lmer() to drop rows"
        )
    return values
