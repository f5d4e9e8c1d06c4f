"""Numerical first and second derivatives by Richardson-extrapolated central differences.

The method numDeriv (Gilbert & Varadhan) uses by default, and so lmerTest for
the Satterthwaite degrees of freedom.  At x the first step is

    h = d |x| + eps · [|x| < zero_tol]      (d = 0.1, eps = 1e-4, zero_tol ≈ 1.8e-5)

and the central difference D(h) = (f(x + h) − f(x − h)) / 2h, whose error is a
series in h², is taken at h, h/2, h/4, h/8 and extrapolated (Richardson 1911):

    D⁽ᵐ⁾_k = (4ᵐ D⁽ᵐ⁻¹⁾_{k+1} − D⁽ᵐ⁻¹⁾_k) / (4ᵐ − 1),   m = 1, 2, 3,

which removes the h², h⁴ and h⁶ terms.  Second derivatives use the same steps
with (f(x + h) − 2 f(x) + f(x − h)) / h² on the diagonal and numDeriv's
two-point difference along e_i + e_j off it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_RELATIVE_STEP = 0.1
_ZERO_STEP = 1e-4
_ZERO_TOL = float(np.sqrt(np.finfo(float).eps / 7e-7))
_LEVELS = 4


def first_steps(x: np.ndarray) -> np.ndarray:
    """numDeriv's first step for each coordinate of x."""
    x = np.abs(np.asarray(x, dtype=float))
    return _RELATIVE_STEP * x + _ZERO_STEP * (x < _ZERO_TOL)


def _extrapolate(estimates: list[np.ndarray]) -> np.ndarray:
    table = np.array(estimates)
    for m in range(1, len(estimates)):
        factor = 4.0**m
        table = (factor * table[1:] - table[:-1]) / (factor - 1)
    return table[0]


def _unit(n: int, i: int, h: float) -> np.ndarray:
    step = np.zeros(n)
    step[i] = h
    return step


def jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """∂f/∂x_i for each i, stacked on the last axis: shape ``f(x).shape + (len(x),)``.

    Examples
    --------
    >>> float(jacobian(lambda v: np.array(np.sin(v[0])), np.array([0.3]))[0].round(10))
    0.9553364891
    """
    x = np.asarray(x, dtype=float)
    columns = []
    for i, h0 in enumerate(first_steps(x)):
        levels = []
        for k in range(_LEVELS):
            e = _unit(len(x), i, h0 / 2**k)
            levels.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * e[i]))
        columns.append(_extrapolate(levels))
    return np.stack(columns, axis=-1)


def hessian(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """The matrix of second derivatives of a scalar function.

    Off the diagonal, numDeriv's two-point form: with u = h_i e_i + h_j e_j,
    f(x + u) + f(x − u) − 2f(x) = H_ii h_i² + H_jj h_j² + 2 H_ij h_i h_j + O(h⁴).

    Examples
    --------
    >>> hessian(lambda v: v[0] ** 2 * v[1], np.array([1.0, 2.0])).round(8)
    array([[4., 2.],
           [2., 0.]])
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    f0 = float(f(x))
    steps = [first_steps(x) / 2**k for k in range(_LEVELS)]
    diagonal = [np.array([_second(f, x, f0, i, h[i]) for i in range(n)]) for h in steps]
    H = np.diag(_extrapolate(diagonal))
    for i in range(n):
        for j in range(i):
            levels = [_cross(f, x, f0, i, j, h, d) for h, d in zip(steps, diagonal, strict=True)]
            H[i, j] = H[j, i] = _extrapolate(levels)
    return H


def _second(f, x, f0, i, h):
    e = _unit(len(x), i, h)
    return (f(x + e) - 2 * f0 + f(x - e)) / h**2


def _cross(f, x, f0, i, j, h, diagonal):
    u = _unit(len(x), i, h[i]) + _unit(len(x), j, h[j])
    both = f(x + u) - 2 * f0 + f(x - u)
    return (both - diagonal[i] * h[i] ** 2 - diagonal[j] * h[j] ** 2) / (2 * h[i] * h[j])
