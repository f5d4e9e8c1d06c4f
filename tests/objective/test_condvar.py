"""Conditional variances and prediction variances from the selected inverse of A.

``conditional_variances`` must equal the column-by-column solve
(``conditional_variance_blocks``) on every lme4 reference case and on each
factorization (dense, blocked, CHOLMOD); with lme4's θ it must give lme4's
``condVar``; and the prediction variances built on it must equal the per-row
solves (``solved_variance``), including rows that join levels no observation
joined (not on A's pattern: solved instead).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from reference import case_design, case_files, lme4_names, load_case

import lmmpy
from lmmpy._predict import prediction_rows, random_effects_selection
from lmmpy.inference import _predict_se
from lmmpy.objective import (
    ProfiledDeviance,
    conditional_variance_blocks,
    conditional_variances,
    cross_products,
    selected_inverse,
)

PATHS = ("dense", "blocked", "cholmod")
CASES = [name for name in case_files("fit") if load_case(name)["ranef"]]


def _deviance(design, reml, path):
    try:
        return ProfiledDeviance(cross_products(design), design.terms, reml, _path=path)
    except ValueError:
        pytest.skip(f"the {path} factorization does not apply")


def _thetas(case) -> tuple[np.ndarray, np.ndarray]:
    """lme4's θ and a point beside it."""
    theta = np.array(list(case["theta"].values()))
    return theta, theta + np.random.default_rng(11).uniform(0.05, 0.5, len(theta))


@functools.cache
def _solved_blocks(name: str) -> list[list[np.ndarray]]:
    """The column-by-column solve at each θ of :func:`_thetas`, by the first factorization
    that applies (dense, else blocked, else CHOLMOD): the same numbers on every path, and
    on InstEval the solve alone took 25 s of CHOLMOD's 31."""
    case, design = case_design(name)
    for path in PATHS:
        try:
            deviance = ProfiledDeviance(cross_products(design), design.terms, case["REML"],
                                        _path=path)
        except ValueError:
            continue
        return [conditional_variance_blocks(deviance, at) for at in _thetas(case)]
    raise AssertionError(f"no factorization applies to {name}")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", CASES)
def test_blocks_equal_the_solved_ones_and_lme4s_condvar(name, path):
    case, design = case_design(name)
    deviance = _deviance(design, case["REML"], path)
    theta = _thetas(case)[0]
    for at, solved in zip(_thetas(case), _solved_blocks(name), strict=True):
        fast = conditional_variances(deviance, at)
        for ours, theirs in zip(fast, solved, strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12 * np.abs(theirs).max())
    sigma = deviance.solve(theta).sigma
    _check_condsd(case, design, [sigma * np.sqrt(np.diagonal(b, axis1=1, axis2=2))
                                 for b in conditional_variances(deviance, theta)])


def _check_condsd(case, design, sds):
    """Against lme4's condsd (terms of one grouping factor side by side, as ranef)."""
    tables: dict[str, pd.DataFrame] = {}
    for term, values in zip(design.terms, sds, strict=True):
        table = pd.DataFrame(values, index=term.levels, columns=list(term.columns))
        previous = tables.get(term.group_name)
        tables[term.group_name] = table if previous is None else pd.concat([previous, table],
                                                                           axis=1)
    for group, reference in case["ranef"].items():
        if reference is None or reference.get("condsd") is None:
            continue
        table = tables[group]
        table.columns = lme4_names(table.columns)
        ours = table.loc[reference["levels"], reference["terms"]].to_numpy()
        theirs = np.array(reference["condsd"])
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-8 * np.abs(theirs).max())


def test_off_pattern_entries_are_nan_on_the_sparse_path():
    """Pastes, cask within batch: a cask and another batch never share a row."""
    design = lmmpy.lmer("strength ~ 1 + (1 | batch/cask)", lmmpy.datasets.load("Pastes")).design
    deviance = _deviance(design, True, "cholmod")
    inverse = selected_inverse(deviance, np.array([1.0, 1.0]))
    cask_of_batch_a, batch_b = 0, design.terms[0].n_levels + 1
    assert np.isnan(inverse.entries(np.array([cask_of_batch_a]), np.array([batch_b]))[0])


# ---- prediction variances -------------------------------------------------------------

MODELS = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
    "pastes": ("strength ~ 1 + (1 | batch/cask)", "Pastes"),
    "two_terms": ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", "sleepstudy"),
}


def _model_on_path(key: str, path: str, weighted: bool = False) -> lmmpy.LinearMixedModel:
    formula, name = MODELS[key]
    data = lmmpy.datasets.load(name)
    weights = np.random.default_rng(5).uniform(0.5, 2.0, len(data)) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        m = lmmpy.lmer(formula, data, weights=weights)
    deviance = _deviance(m.design, m.reml, path)
    return dataclasses.replace(m, objective=deviance)


def _prediction_rows(model, frame, allow_new_levels):
    """X, term matrices and level codes of rows predicted with every random-effect term."""
    rows = prediction_rows(model, frame, random_effects_selection(model, None),
                           allow_new_levels)
    return rows.X, rows.matrices, rows.codes


def _solved(model, X, matrices, codes):
    equations = _predict_se._MixedModelEquations(model)
    Zt = _predict_se._random_effects_rows(model, matrices, codes).T.tocsc()
    return (equations.solved_variance(X, Zt)
            + _predict_se._new_level_variance(model, matrices, codes))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("key", "weighted"), [("sleepstudy", False), ("sleepstudy", True),
                                               ("penicillin", False), ("pastes", False),
                                               ("two_terms", True)])
def test_prediction_variance_equals_the_row_solves(key, weighted, path):
    model = _model_on_path(key, path, weighted)
    X, matrices, codes = _prediction_rows(model, None, False)
    fast = _predict_se.prediction_error_variance(model, X, matrices, codes)
    np.testing.assert_allclose(fast, _solved(model, X, matrices, codes), rtol=1e-9)


@pytest.mark.parametrize("path", PATHS)
def test_rows_joining_unseen_level_pairs_are_solved(path):
    """A cask with another batch's id, and a new cask: off the pattern, or not in the fit."""
    model = _model_on_path("pastes", path)
    new = pd.DataFrame({"batch": ["A", "B", "C", "A"], "cask": ["a", "b", "c", "z"]})
    new["batch"] = ["A", "B", "C", "A"]
    rows = pd.DataFrame({"batch": ["B", "A", "C", "J"], "cask": ["a", "a", "b", "c"]})
    for frame in (new, rows):
        X, matrices, codes = _prediction_rows(model, frame, True)
        # a row of batch B whose cask is A's cask a: the pair (a:A, B) never occurs
        mismatched = codes[0].copy()
        mismatched[0] = 0
        codes = [mismatched, *codes[1:]]
        fast = _predict_se.prediction_error_variance(model, X, matrices, codes)
        np.testing.assert_allclose(fast, _solved(model, X, matrices, codes), rtol=1e-9)


@pytest.mark.parametrize("key", ["penicillin", "pastes", "two_terms"])
def test_compiled_update_cross_entries_equal_the_row_solves(key, monkeypatch):
    """The blocked inverse's cross entries from the compiled update's gather (no table of
    pair products, no dense update), on and off A's pattern."""
    pytest.importorskip("numba")
    from lmmpy.objective import _rankupdate

    monkeypatch.setattr(_rankupdate, "PAIR_BUDGET", 0)
    monkeypatch.setattr(_rankupdate, "DENSE_BUDGET", 0)
    model = _model_on_path(key, "blocked", weighted=True)
    assert type(model.objective.factor.structure.update).__name__ == "CompiledUpdate"
    X, matrices, codes = _prediction_rows(model, None, False)
    fast = _predict_se.prediction_error_variance(model, X, matrices, codes)
    np.testing.assert_allclose(fast, _solved(model, X, matrices, codes), rtol=1e-9)
    if key == "pastes":   # a row of batch B with A's cask a: off the pattern
        codes = [np.zeros_like(codes[0]), *codes[1:]]
        fast = _predict_se.prediction_error_variance(model, X, matrices, codes)
        np.testing.assert_allclose(fast, _solved(model, X, matrices, codes), rtol=1e-9)
