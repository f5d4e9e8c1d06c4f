"""The Newton certificate of no separation (lmmpy.glmm._separation) against the linear
programme it stands in for: it never claims "not separated" where the programme finds a
separating direction, and it decides most data without the programme."""

import numpy as np
import pandas as pd
import pytest

import lmmpy.glmm._separation as separation
from lmmpy.glmm.fit import glmm_setup


def _programme_optimum(system) -> tuple[str | None, list[str]]:
    """The linear programme's answer alone (the certificate switched off)."""
    original = separation._fits_without_separation
    separation._fits_without_separation = lambda *args: False
    try:
        return separation.separated_coefficients(system)
    finally:
        separation._fits_without_separation = original


def _certificate(system) -> bool:
    X = np.asarray(system.design.X.values, dtype=float)
    X = X / np.max(np.abs(X), axis=0)
    sign, _ = separation._row_constraints(system)
    return separation._fits_without_separation(system, X, sign)


def _data(seed: int, n: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    f = rng.choice(list("pqr"), n)
    eta = shift * x + (f == "q") * 1.5 - 0.5
    return pd.DataFrame({"x": x, "f": f, "g": rng.choice(list("abcdef"), n),
                         "y": rng.binomial(1, 1 / (1 + np.exp(-eta))),
                         "k": rng.binomial(4, 1 / (1 + np.exp(-eta))),
                         "count": rng.poisson(np.exp(eta / 2))})


CASES = [(formula, family, seed, n, shift)
         for formula, family in [("y ~ x + f + (1 | g)", "binomial"),
                                 ("cbind(k, 4 - k) ~ x + f + (1 | g)", "binomial"),
                                 ("count ~ x + f + (1 | g)", "poisson")]
         for seed, n, shift in [(1, 30, 1.0), (2, 200, 2.0), (3, 12, 8.0), (4, 40, 30.0),
                                (5, 500, 0.5), (6, 16, 4.0)]]


@pytest.mark.parametrize(("formula", "family", "seed", "n", "shift"), CASES)
def test_certificate_agrees_with_the_programme(formula, family, seed, n, shift):
    try:
        system = glmm_setup(formula, _data(seed, n, shift), family)
    except ValueError as error:   # separated: the certificate must not have claimed otherwise
        assert "separation" in str(error)
        system = None
    if system is None:
        return
    kind, _ = _programme_optimum(system)
    assert kind is None   # glmm_setup passed: the programme agrees there is no separation


@pytest.mark.parametrize(("formula", "family", "seed", "n", "shift"), CASES)
def test_certificate_is_never_wrong(formula, family, seed, n, shift, monkeypatch):
    """Where the certificate holds, the programme finds no separating direction."""
    import lmmpy.glmm.fit as fit

    monkeypatch.setattr(fit, "SEPARATION_CHECK_ROWS", 0)   # set-up without any check
    system = glmm_setup(formula, _data(seed, n, shift), family)
    if _certificate(system):
        assert _programme_optimum(system) == (None, [])


def test_separated_data_are_left_to_the_programme(monkeypatch):
    import lmmpy.glmm.fit as fit

    rng = np.random.default_rng(5)
    data = pd.DataFrame({"g": np.repeat(list("abcd"), 10), "x": rng.normal(size=40)})
    data["y"] = (data["x"] > 0).astype(int)   # complete separation by x
    monkeypatch.setattr(fit, "SEPARATION_CHECK_ROWS", 0)
    system = glmm_setup("y ~ x + (1 | g)", data, "binomial")
    assert not _certificate(system)
    assert _programme_optimum(system)[0] == "complete"


def test_most_data_need_no_programme():
    decided = 0
    for seed in range(10):
        system = glmm_setup("y ~ x + f + (1 | g)", _data(seed, 300, 1.0), "binomial")
        decided += _certificate(system)
    assert decided == 10
