"""The derivative methods: projected BFGS, its EM metric and damped update, Newton's saddles."""

from __future__ import annotations

import numpy as np
import pytest

import lmmpy
from lmmpy._descent import _damped_bfgs_update, em_metric, projected_bfgs
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products
from lmmpy.optimize import _CountingObjective


def _rosenbrock(theta):
    x, y = theta
    value = (1 - x) ** 2 + 100 * (y - x * x) ** 2
    gradient = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
    return float(value), gradient


@pytest.mark.parametrize(("lower", "expected"), [
    ([-np.inf, -np.inf], [1.0, 1.0]),   # the valley's end
    ([1.2, -np.inf], [1.2, 1.44]),      # held on x's bound, y free along the valley
])
def test_projected_bfgs_minimises_rosenbrock(lower, expected):
    objective = _CountingObjective(lambda t: _rosenbrock(t)[0], _rosenbrock)
    theta, _, message = projected_bfgs(objective, np.array([-1.2, 1.0]), np.array(lower))
    assert theta == pytest.approx(expected, abs=1e-5), message
    assert objective.count < 200


def test_gradient_first_off_asks_gradients_only_where_steps_are_taken():
    """Without ``gradient_first`` a step's trials cost values, and a gradient is asked
    only at the point just valued and taken: the same minimum, fewer gradients."""
    gradients = {}
    for first in (True, False):
        events = []

        def value(t, events=events):
            events.append(("value", np.array(t)))
            return _rosenbrock(t)[0]

        def with_gradient(t, events=events):
            events.append(("gradient", np.array(t)))
            return _rosenbrock(t)

        objective = _CountingObjective(value, with_gradient)
        theta, _, message = projected_bfgs(objective, np.array([-1.2, 1.0]),
                                           np.full(2, -np.inf), gradient_first=first)
        assert theta == pytest.approx([1.0, 1.0], abs=1e-5), message
        asked = [i for i, (kind, _) in enumerate(events) if kind == "gradient"]
        gradients[first] = len(asked)
        if not first:   # after the start's, each gradient is at the point valued just before
            assert all(events[i - 1][0] == "value" and np.array_equal(events[i - 1][1], events[i][1])
                       for i in asked[1:])
    assert gradients[False] < gradients[True]


def test_damped_update_stays_positive_definite_on_negative_curvature():
    B = np.eye(2)
    updated = _damped_bfgs_update(B, np.array([1.0, 0.0]), np.array([-3.0, 0.5]))  # s'y < 0
    assert np.all(np.linalg.eigvalsh(updated) > 0)
    assert updated @ np.array([1.0, 0.0]) != pytest.approx(B @ np.array([1.0, 0.0]))


def test_em_metric_of_a_scalar_term_is_four_levels_over_theta_squared():
    design = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"),
                          lmmpy.datasets.load("Dyestuff"))
    f = ProfiledDeviance(cross_products(design), design.terms, reml=False)
    for theta in (0.3, 1.0, 2.5):
        metric = em_metric(f.em_update, np.array([theta]))
        assert metric == pytest.approx(np.array([[4 * 6 / theta**2]]), rel=1e-6)


def test_em_metric_is_none_where_em_cannot_move():
    assert em_metric(lambda theta, gradient: theta, np.array([0.5, 1.0])) is None


def test_the_line_search_gives_up_once_the_promised_decrease_is_rounding():
    """A flat optimum: halving on would spend dozens of evaluations that cannot decrease."""
    calls = []

    def flat(theta):
        calls.append(theta)
        return 215.0, np.array([1e-3, -1e-3])   # above gtol, but the curvature is huge

    objective = _CountingObjective(lambda t: flat(t)[0], flat)
    theta, value, message = projected_bfgs(objective, np.array([3.0, 4.0]),
                                           np.array([0.0, 0.0]),
                                           metric=lambda t: 1e12 * np.eye(2))
    assert message == "no step lowers the objective"
    assert len(calls) <= 2
    assert list(theta) == [3.0, 4.0] and value == 215.0


def test_stop_on_promise_stops_before_a_step_its_model_says_gains_nothing():
    """On a smooth convex function the stop on the model's promise comes no later than the
    stop on a realised decrease, at a value within PROMISE_TOL (relative) of the same
    minimum, and says why."""
    from lmmpy import _descent

    def f(t):
        return float(1e6 + np.exp(t[0]) - t[0] + 3 * (t[1] - 0.5) ** 2 + t[0] * t[1])

    def value_and_gradient(t):
        return f(t), np.array([np.exp(t[0]) - 1 + t[1], 6 * (t[1] - 0.5) + t[0]])

    runs = {}
    for promise in (False, True):
        objective = _CountingObjective(f, value_and_gradient)
        _, value, message = projected_bfgs(objective, np.array([1.0, 1.0]),
                                               np.full(2, -np.inf), stop_on_promise=promise)
        runs[promise] = (value, objective.count, message)
    assert runs[True][2] == "predicted reduction below ftol"
    assert runs[True][1] <= runs[False][1]
    assert abs(runs[True][0] - runs[False][0]) <= 2 * _descent.PROMISE_TOL * 1e6 + 1e-12 * 1e6
