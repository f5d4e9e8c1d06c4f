"""Profile and Wald intervals against lme4's ``confint(m, method = ..., oldNames = FALSE)``.

Profile intervals agree with lme4 within 1e-3 relative (on the SD scale;
lower ends of 0 and correlation ends of ±1 exactly).  Our ends are the exact
roots of ζ = ±z; lme4 interpolates a spline through its traced profile, which
is where the small differences come from (up to ~2e-4: Dyestuff's SD near its
curved lower end, Dyestuff2's intercept across the kink where θ leaves 0).

Two cases differ by more, and there lme4's end is not on the profile cutoff:

* ``pastes_three_level_reml``, the region SD's lower end (6e-3): the profile
  bends sharply as the SD goes to 0 and lme4's spline through its points at
  0.51 and 0.29 misses; ζ at lme4's end is −1.955, inside ±z;
* the 3×3 unstructured covariance of ``machines_catlhs_reml``, whose
  correlation profiles lme4 evaluates, near the edge of the positive-definite
  set, at correlation triples that are not positive definite — its
  ``Sv_to_Cv`` then takes a pivoted Cholesky factor (``safe_chol``) that
  belongs to another covariance matrix.

For those ends the test proves lme4's number is not on the cutoff: either ζ
there is inside ±z, shown by an explicit parameter vector and its deviance, or
(where lme4's interval is wider) a multistart search finds no lower deviance
than ours (slow tests only).

The cases with profile intervals take about a minute together; the default run
checks a representative five (boundary, singular and correlation cases among
them), ``LMMPY_SLOW_TESTS=1`` all of them.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest
from reference import at_lme4_theta, case_files, fitted, lme4_names, load_case
from scipy.stats import norm

from lmmpy.inference._confint import confint, parameter_names
from lmmpy.inference._profile import Profiler, _bobyqa

SLOW = bool(os.environ.get("LMMPY_SLOW_TESTS"))
PROFILE_CASES = [name for name in case_files("fit") if load_case(name).get("confint_profile")]
QUICK = {"dyestuff_reml", "dyestuff2_reml", "pastes_reml", "sleepstudy_slope_reml",
         "sim_singular_slope_reml"}
WALD_CASES = [name for name in case_files("fit") if load_case(name).get("confint_wald")]
Z = norm.ppf(0.975)

# (case, parameter): lme4's ends that are off the profile (see the module docstring).
LME4_OFF_PROFILE = {
    ("pastes_three_level_reml", "sd_(Intercept)|region"): ("lower",),
    ("machines_catlhs_reml", "cor_MachineB.MachineA|Worker"): ("lower", "upper"),
    ("machines_catlhs_reml", "cor_MachineC.MachineA|Worker"): ("lower", "upper"),
    ("machines_catlhs_reml", "cor_MachineC.MachineB|Worker"): ("lower", "upper"),
}


def _selected(names: list[str]) -> list[str]:
    return [name for name in names if name in QUICK or SLOW]


@functools.cache
def profile_intervals(name: str):
    return confint(fitted(name), "profile")


@functools.cache
def profiler(name: str) -> Profiler:
    return Profiler(fitted(name))


def _reference(name: str, key: str) -> dict[str, tuple[float, float]]:
    return {row["parm"]: (row["lower"], row["upper"]) for row in load_case(name)[key]}


@pytest.mark.parametrize("name", _selected(PROFILE_CASES))
def test_profile_intervals_match_lme4(name):
    ours = profile_intervals(name)
    reference = _reference(name, "confint_profile")
    assert lme4_names(ours.index) == list(reference)
    for ours_name, lme4_name in zip(ours.index, reference, strict=True):
        off = LME4_OFF_PROFILE.get((name, lme4_name), ())
        for end, lme4_end in zip(("lower", "upper"), reference[lme4_name], strict=True):
            ours_end = ours.loc[ours_name, end]
            if end not in off:
                assert abs(ours_end - lme4_end) <= 1e-3 * abs(lme4_end), (lme4_name, end,
                                                                          ours_end, lme4_end)


@pytest.mark.parametrize("name", _selected(PROFILE_CASES))
def test_profile_ends_are_roots_or_bounds(name):
    """Every interval end has ζ = ±z exactly, or is the parameter's bound with |ζ| ≤ z there."""
    p, ours = profiler(name), profile_intervals(name)
    for index, parameter in enumerate(ours.index):
        for direction, end in ((-1, ours.loc[parameter, "lower"]),
                               (1, ours.loc[parameter, "upper"])):
            zeta = p.zeta(index, end, p.estimate).zeta
            if end in (p.lower[index], p.upper[index]):
                assert direction * zeta <= Z + 1e-6, (parameter, end, zeta)
            else:
                assert zeta == pytest.approx(direction * Z, abs=1e-5), (parameter, end)


@pytest.mark.parametrize(("name", "parameter"), sorted(LME4_OFF_PROFILE))
def test_lme4_ends_off_the_profile(name, parameter):
    """lme4's ends for these correlations are not where the profile crosses ±z."""
    p = profiler(name)
    index = lme4_names(p.names).index(parameter)
    ends = zip((-1, 1), ("lower", "upper"), _reference(name, "confint_profile")[parameter],
               strict=True)
    for _, end, lme4_end in ends:
        if end not in LME4_OFF_PROFILE[(name, parameter)]:
            continue
        point = p.zeta(index, lme4_end, p.estimate)
        assert abs(abs(point.zeta) - Z) > 1e-3, (parameter, lme4_end, point.zeta)
        if abs(point.zeta) < Z:
            # Constructive: these parameters have the correlation at lme4's end and a
            # deviance below the cutoff, so lme4's interval wrongly excludes that value.
            values = point.params[:p.n_variance]
            assert values[index] == pytest.approx(lme4_end)
            assert p.sdcor_deviance(values) - p.base < Z**2
        elif SLOW:
            assert _multistart_deviance(p, index, lme4_end) >= p.base + point.zeta**2 - 1e-6


def _multistart_deviance(p: Profiler, index: int, value: float, starts: int = 12) -> float:
    """Lowest deviance with parameter ``index`` at ``value`` over random starts."""
    rng = np.random.default_rng(20240611)
    coordinates = p._coordinates(index)
    center = coordinates.encode(p.estimate[:p.n_variance])
    angle = coordinates.upper == np.pi
    best = np.inf
    for _ in range(starts):
        x0 = np.where(angle, rng.uniform(0.05, np.pi - 0.05, len(center)),
                      center * np.exp(rng.normal(0, 0.3, len(center))))
        _, value_found = _bobyqa(lambda x, grad=None: p.sdcor_deviance(
            coordinates.decode(x, value)), x0, coordinates.lower, coordinates.upper,
            np.full(len(x0), 0.05))
        best = min(best, value_found)
    return best


@pytest.mark.parametrize("name", WALD_CASES)
def test_wald_intervals_match_lme4(name):
    """Exact (1e-6) at lme4's θ: Wald intervals are a function of the fit alone (our own θ̂
    agrees with lme4's to the optimizer's tolerance, test_fit_reference.py)."""
    ours = confint(at_lme4_theta(name), "wald")
    reference = _reference(name, "confint_wald")
    assert lme4_names(ours.index) == list(reference)
    for ours_name, (lower, upper) in zip(ours.index, reference.values(), strict=True):
        if lower is None:
            assert ours.loc[ours_name].isna().all()
        else:
            assert ours.loc[ours_name, "lower"] == pytest.approx(lower, rel=1e-6)
            assert ours.loc[ours_name, "upper"] == pytest.approx(upper, rel=1e-6)


def test_rows_are_lme4s_parameters_in_order():
    names = parameter_names(fitted("sleepstudy_slope_reml"))
    assert names == ["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject",
                     "sd_Days|Subject", "sigma", "(Intercept)", "Days"]
