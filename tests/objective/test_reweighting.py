"""A factorization reused with other weights must give the fresh objective (issue 12).

PIRLS reweights the same design at every step, reusing the factorization set
up for the first weights (``ProfiledDeviance.with_crossprods``): nothing that
depends on the weights may survive the change, only the analysed pattern.
Each test changes the weights several times, to very different ones, and
compares every quantity with an objective built afresh from the same
cross-products, on each of the three factorizations.
"""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from lmmpy.datasets import load
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.glmm._pirls import ReweightedSystem, pirls
from lmmpy.glmm._weighted import WeightedCrossProducts
from lmmpy.glmm.fit import glmm_setup
from lmmpy.objective import ProfiledDeviance, cross_products, random_effects_matrix

PATHS = ["dense", "blocked", "cholmod"]
MODELS = {
    "Penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", np.array([1.5, 3.0])),
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", np.array([0.9, 0.1, 0.2])),
    "Pastes": ("strength ~ 1 + (1 | batch/cask)", np.array([2.9, 1.2])),
}


def _design(name):
    return build_design(parse_formula(MODELS[name][0]), load(name))


def _weight_sets(n: int) -> list[np.ndarray]:
    """Unit weights, then mild, extreme (ten orders of magnitude), log-normal and some near 0
    (as PIRLS's working weights where μ reaches 0 or 1)."""
    rng = np.random.default_rng(7)
    tiny = rng.uniform(0.5, 2.0, n)
    tiny[rng.choice(n, n // 10, replace=False)] = 1e-12
    return [np.ones(n), rng.uniform(0.5, 2.0, n), 10.0 ** rng.uniform(-5, 5, n),
            np.exp(rng.normal(0.0, 3.0, n)), tiny, rng.uniform(0.5, 2.0, n)]


def _assert_same_objective(reused, fresh, theta):
    assert reused.path == fresh.path
    for scale in (1.0, 0.3, 2.5):
        at = theta * scale
        assert reused(at) == pytest.approx(fresh(at), rel=1e-10)
    mine, theirs = reused.solve(theta), fresh.solve(theta)
    np.testing.assert_allclose(mine.u, theirs.u, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(mine.beta, theirs.beta, rtol=1e-8, atol=1e-10)
    assert mine.logdet_L == pytest.approx(theirs.logdet_L, rel=1e-10)
    if fresh.has_gradient:
        np.testing.assert_allclose(reused.value_and_gradient(theta)[1],
                                   fresh.value_and_gradient(theta)[1], rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_chain_of_reweightings_gives_fresh_objectives(name, path, reml):
    design = _design(name)
    theta = MODELS[name][1]
    objective, values = None, []
    for weights in _weight_sets(design.n_obs):
        crossprods = cross_products(replace(design, weights=weights))
        objective = (ProfiledDeviance(crossprods, design.terms, reml=reml, _path=path)
                     if objective is None else objective.with_crossprods(crossprods))
        objective(theta * 0.7)   # factored at another θ before the comparison
        fresh = ProfiledDeviance(crossprods, design.terms, reml=reml, _path=path)
        _assert_same_objective(objective, fresh, theta)
        values.append(fresh(theta))
    assert len(set(np.round(values, 6))) == len(values)   # every change of weights matters


@pytest.mark.parametrize("path", PATHS)
def test_pirls_tables_reweight_the_same_objective(path):
    """The cross-products PIRLS makes (from weight-free tables) on a reused factorization."""
    design = _design("Penicillin")
    theta = MODELS["Penicillin"][1]
    tables = WeightedCrossProducts(design)
    objective = None
    for weights in _weight_sets(design.n_obs):
        crossprods = tables.at(weights, design.y * np.sqrt(weights + 1.0))
        objective = (ProfiledDeviance(crossprods, design.terms, reml=False, _path=path)
                     if objective is None else objective.with_crossprods(crossprods))
        objective(theta)
        _assert_same_objective(objective, ProfiledDeviance(crossprods, design.terms, reml=False,
                                                           _path=path), theta)


def test_blocked_reweighting_keeps_the_analysed_pattern_only():
    design = _design("Penicillin")
    tables = WeightedCrossProducts(design)
    first = ProfiledDeviance(tables.at(np.ones(design.n_obs), design.y), design.terms,
                             reml=False, _path="blocked")
    weights = _weight_sets(design.n_obs)[2]
    reused = first.with_crossprods(tables.at(weights, design.y))
    assert reused.factor.structure.pattern is first.factor.structure.pattern
    assert not np.allclose(reused.factor.structure.D, first.factor.structure.D)
    assert not np.allclose(reused.factor.structure.S_ss, first.factor.structure.S_ss)


def test_blocked_reweighting_to_another_pattern_is_analysed_anew():
    """Zero weights drop entries of Z'WZ: the pattern changes and is analysed anew (the
    deviance is infinite with Σ log w = −∞, so the solution is compared)."""
    design = _design("Penicillin")
    first = ProfiledDeviance(cross_products(design), design.terms, reml=False, _path="blocked")
    weights = np.ones(design.n_obs)
    weights[: design.n_obs // 2] = 0.0
    with np.errstate(divide="ignore"):
        crossprods = cross_products(replace(design, weights=weights))
    assert crossprods.ZtZ.nnz < first.crossprods.ZtZ.nnz
    reused = first.with_crossprods(crossprods)
    assert reused.factor.structure.pattern is not first.factor.structure.pattern
    theta = MODELS["Penicillin"][1]
    mine = reused.solve(theta)
    theirs = ProfiledDeviance(crossprods, design.terms, reml=False, _path="blocked").solve(theta)
    assert (mine.pwrss, mine.logdet_L) == pytest.approx((theirs.pwrss, theirs.logdet_L), rel=1e-10)
    np.testing.assert_allclose(mine.u, theirs.u, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("path", PATHS)
def test_with_crossprods_for_a_new_response_keeps_its_value(path):
    design = _design("Penicillin")
    theta = MODELS["Penicillin"][1]
    first = ProfiledDeviance(cross_products(design), design.terms, reml=False, _path=path)
    y = design.y + np.random.default_rng(2).normal(size=design.n_obs)
    crossprods = first.crossprods.with_response(random_effects_matrix(design), design.X.values,
                                                y, None)
    fresh = ProfiledDeviance(cross_products(replace(design, y=y)), design.terms, reml=False,
                             _path=path)
    assert first.with_crossprods(crossprods)(theta) == pytest.approx(fresh(theta), rel=1e-10)


# ---- through PIRLS -----------------------------------------------------------------------

class _FreshSystem(ReweightedSystem):
    """PIRLS's system with a factorization built afresh at every reweighting."""

    def objective_at(self, eta):
        if eta is None and self._objective is not None:
            return self._objective
        eta = self.response.start_eta() if eta is None else eta
        weights, z = self.response.working(eta, self.design.offset)
        self._objective = ProfiledDeviance(self._crossprods.at(weights, z), self.design.terms,
                                           reml=False, _path=self.path)
        return self._objective


def _binary_crossed() -> pd.DataFrame:
    """100 subjects × 12 items, a binary response (small enough for every path)."""
    rng = np.random.default_rng(11)
    n = 1000
    subject, item = np.arange(n) % 100, rng.integers(0, 12, n)
    x = rng.normal(size=n)
    eta = -0.3 + 0.8 * x + 1.2 * rng.normal(size=100)[subject] + 0.7 * rng.normal(size=12)[item]
    return pd.DataFrame({"y": (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float),
                         "x": x, "subject": pd.Categorical(subject), "item": pd.Categorical(item)})


GLMMS = {
    "crossed": ("y ~ x + (1 | subject) + (1 | item)", _binary_crossed, "binomial",
                [np.array([1.2, 0.7]), np.array([0.05, 3.0]), np.array([4.0, 0.0])]),
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)",
             lambda: load("cbpp"), "binomial", [np.array([0.64]), np.array([3.0])]),
}


@pytest.mark.parametrize("vary_beta", [True, False])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", sorted(GLMMS))
def test_pirls_on_a_reused_factorization_is_pirls_on_fresh_ones(name, path, vary_beta):
    formula, data, family, thetas = GLMMS[name]
    system = glmm_setup(formula, data(), family)
    reused = ReweightedSystem(system.design, system.response, path=path)
    fresh = _FreshSystem(system.design, system.response, path=path)
    beta = None if vary_beta else np.full(system.n_fixed, 0.1)
    for theta in thetas:   # one system through all the θ's, as the optimizer uses it
        mine = pirls(reused, theta, beta, None, vary_beta)
        theirs = pirls(fresh, theta, beta, None, vary_beta)
        assert mine.objective.path == path
        assert mine.iterations > 2   # several reweightings
        assert mine.pdev == pytest.approx(theirs.pdev, rel=1e-10)
        assert mine.logdet_L == pytest.approx(theirs.logdet_L, rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(mine.u, theirs.u, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(mine.beta, theirs.beta, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", sorted(GLMMS))
def test_pirls_agrees_across_the_factorizations(name):
    formula, data, family, thetas = GLMMS[name]
    system = glmm_setup(formula, data(), family)
    results = {path: pirls(ReweightedSystem(system.design, system.response, path=path),
                           thetas[0], None, None, vary_beta=True) for path in PATHS}
    for path in ("blocked", "cholmod"):
        assert results[path].pdev == pytest.approx(results["dense"].pdev, rel=1e-9)
        assert results[path].logdet_L == pytest.approx(results["dense"].logdet_L, rel=1e-8)
        np.testing.assert_allclose(results[path].beta, results["dense"].beta, rtol=1e-6)
