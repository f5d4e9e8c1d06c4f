"""The weight-free table of PIRLS's cross-products (:mod:`lmmpy.glmm._weighted`), built by
a compiled pass over Z's columns, against the table as it was first built (every pair of a
row's entries, keyed and sorted with ``np.unique``) and against Z'WZ computed directly.

The table holds the entries a ≥ b only (and no values when Z's are all 1); Z'WZ's
pattern and values must be the same to the bit, so that every cross-product, and with it
every fit, is unchanged.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.glmm._weighted import WeightedCrossProducts


def _reference_table(Z):
    """(P, ZtZ's row indices, its column pointer) by sorting all pairs of a row's entries."""
    Z = sp.csr_matrix(Z)
    Z.sort_indices()
    n, q = Z.shape
    counts = np.diff(Z.indptr)
    entry_row = np.repeat(np.arange(n), counts)
    partners = counts[entry_row]
    first = np.repeat(np.arange(len(entry_row)), partners)
    offsets = np.arange(len(first)) - np.repeat(np.cumsum(partners) - partners, partners)
    second = Z.indptr[entry_row[first]] + offsets
    keys = Z.indices[second].astype(np.int64) * q + Z.indices[first]   # column-major
    unique, position = np.unique(keys, return_inverse=True)
    P = sp.csr_matrix((Z.data[first] * Z.data[second], (position, entry_row[first])),
                      shape=(len(unique), n))
    indices = (unique % q).astype(np.int32)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(unique // q, minlength=q))])
    return P, indices, indptr.astype(np.int32)


def _data(n: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(size=n), "w": rng.uniform(1, 5, size=n),
        "s": rng.integers(0, 3, n).astype(float),   # a slope with exact zeros (stored)
        "g": pd.Categorical(rng.integers(0, 40, n)), "h": pd.Categorical(rng.integers(0, 7, n)),
        "a": pd.Categorical(rng.integers(0, 5, n)), "b": pd.Categorical(rng.integers(0, 4, n)),
        "f": pd.Categorical(rng.choice(["u", "v", "t"], n)),
    })


FORMULAS = [
    "y ~ x + (1 | g)",
    "y ~ x + (1 | g) + (1 | h)",                       # crossed
    "y ~ x + (x | g) + (1 | h)",                       # a random slope, crossed
    "y ~ x + (1 | a/b)",                               # nested
    "y ~ x + (1 + x + w | g) + (s || h) + (1 | a:b)",  # several terms, zeros in a slope
    "y ~ x + (0 + f | g) + (1 | h)",                   # a factor's dummies: mostly zeros
]


def _design(formula: str):
    return build_design(parse_formula(formula), _data())


def _assert_same_table(tables: WeightedCrossProducts, Z) -> None:
    """The pattern of Z'WZ, and its values at several weights to the bit, as the table of
    both triangles gave them (P w, summed in row order as the kernel sums)."""
    P, indices, indptr = _reference_table(Z)
    np.testing.assert_array_equal(tables.indices, indices)
    np.testing.assert_array_equal(tables.indptr, indptr)
    assert tables.indices.dtype == np.int32 and tables.indptr.dtype == np.int32
    rng = np.random.default_rng(17)
    n = Z.shape[0]
    tiny = rng.uniform(0.5, 2.0, n)
    tiny[rng.choice(n, n // 10, replace=False)] = 1e-300
    for weights in (np.ones(n), rng.uniform(0.01, 3, n), 10.0 ** rng.uniform(-8, 8, n), tiny):
        data = tables.at(weights, np.zeros(n)).ZtZ.data
        np.testing.assert_array_equal(data, P @ weights)   # to the bit


@pytest.mark.parametrize("formula", FORMULAS)
def test_table_is_the_sorted_pairs_table(formula):
    design = _design(formula)
    tables = WeightedCrossProducts(design)
    _assert_same_table(tables, design.Z)
    assert (len(tables._L_data) == 0) == bool(np.all(design.Z.data == 1.0))   # values or not


@pytest.mark.parametrize("formula", FORMULAS)
def test_weighted_products_are_direct_ones(formula):
    design = _design(formula)
    tables = WeightedCrossProducts(design)
    rng = np.random.default_rng(5)
    for weights in (np.ones(design.n_obs), rng.uniform(0.01, 3, design.n_obs),
                    10.0 ** rng.uniform(-6, 6, design.n_obs)):
        z = rng.normal(size=design.n_obs)
        crossprods = tables.at(weights, z)
        Z = design.Z.toarray()
        WXy = np.column_stack([design.X.values, z]) * weights[:, None]
        np.testing.assert_allclose(crossprods.ZtZ.toarray(), Z.T @ (Z * weights[:, None]),
                                   rtol=1e-12, atol=1e-12 * weights.max())
        np.testing.assert_allclose(crossprods.ZtXy, Z.T @ WXy, rtol=1e-12,
                                   atol=1e-10 * weights.max())
        # the pattern: every pair of columns stored together in a row, zero products too
        stored = sp.csc_matrix(design.Z, copy=True)
        stored.data[:] = 1.0
        met = (stored.T @ stored).tocsc()
        met.sort_indices()
        np.testing.assert_array_equal(crossprods.ZtZ.indptr, met.indptr)
        np.testing.assert_array_equal(crossprods.ZtZ.indices, met.indices)


def test_empty_rows_and_columns_and_stored_zeros():
    """A Z with rows of no entries, a column of none and explicit zeros (not from a
    formula, which drops unused levels; the table takes any sparse Z)."""
    rng = np.random.default_rng(9)
    n, q = 300, 25
    dense = rng.normal(size=(n, q)) * (rng.uniform(size=(n, q)) < 0.12)
    dense[:, 7] = 0.0
    dense[::13] = 0.0
    stored = sp.csr_matrix(dense)
    stored.data[::5] = 0.0   # explicit zeros stay entries of the pattern
    design = SimpleNamespace(Z=stored.tocsc(), X=SimpleNamespace(values=np.ones((n, 1))))
    tables = WeightedCrossProducts(design)
    _assert_same_table(tables, design.Z)
    weights = rng.uniform(0.1, 2.0, n)
    ZtZ = tables.at(weights, np.zeros(n)).ZtZ.toarray()
    Z = stored.toarray()
    np.testing.assert_allclose(ZtZ, Z.T @ (Z * weights[:, None]), rtol=1e-12, atol=1e-14)
    assert tables.indptr[8] == tables.indptr[7]   # the empty column has no entries


def _binary(n: int = 400, seed: int = 4) -> pd.DataFrame:
    data = _data(n, seed)
    data["y"] = (np.random.default_rng(seed).uniform(size=n) < 0.4).astype(float)
    data["far"] = 50.0 + data["x"]   # far from centred: conditioned for the optimizer
    return data


@pytest.mark.parametrize("formula, shared", [
    ("y ~ far + (1 | g) + (1 | h)", True),        # only X conditioned: Z's tables shared
    ("y ~ x + (far | g)", False),                 # the slope's columns change: new tables
])
def test_conditioned_system_shares_tables_only_with_the_same_z(formula, shared):
    from lmmpy.glmm._conditioned import fitting_criterion
    from lmmpy.glmm._optimize import GlmmCriterion
    from lmmpy.glmm.fit import glmm_setup

    system = glmm_setup(formula, _binary(), "binomial")
    n_theta = len(system.design.theta_start())
    fitting, conditioning = fitting_criterion(GlmmCriterion(system, n_theta, 0))
    assert conditioning is not None
    conditioned = fitting.system
    assert (conditioned._crossprods._L_indices is system._crossprods._L_indices) == shared
    assert (conditioned.design.Z is system.design.Z) == shared
    fresh = WeightedCrossProducts(conditioned.design)
    rng = np.random.default_rng(1)
    weights, z = rng.uniform(0.1, 1.0, system.design.n_obs), rng.normal(size=system.design.n_obs)
    mine, theirs = conditioned._crossprods.at(weights, z), fresh.at(weights, z)
    np.testing.assert_array_equal(mine.ZtZ.data, theirs.ZtZ.data)
    np.testing.assert_array_equal(mine.ZtXy, theirs.ZtXy)
    np.testing.assert_array_equal(mine.XytXy, theirs.XytXy)
    if shared:   # Z'Wz and Z'WZ as on the design's own columns
        own = system._crossprods.at(weights, z)
        np.testing.assert_array_equal(own.ZtXy[:, -1], mine.ZtXy[:, -1])
        np.testing.assert_array_equal(own.ZtZ.data, mine.ZtZ.data)


@pytest.mark.parametrize("formula", FORMULAS[:3])
def test_transpose_is_the_converted_one(formula):
    """Z' taken from the design's CSC arrays is the one converted from Z's CSR."""
    design = _design(formula)
    tables = WeightedCrossProducts(design)
    converted = sp.csr_matrix(design.Z).T.tocsr()
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(tables.Zt, name), getattr(converted, name))
    unsorted = SimpleNamespace(Z=design.Z.tocoo(), X=design.X)   # any other format converts
    np.testing.assert_array_equal(WeightedCrossProducts(unsorted).Zt.toarray(),
                                  design.Z.T.toarray())


def _uncentred_cbpp() -> pd.DataFrame:
    import lmmpy

    data = lmmpy.datasets.load("cbpp")
    data["size1000"] = data["size"] + 1000.0   # far off-centre: only X is conditioned
    return data


def test_state_on_own_columns_uses_the_conditioned_fits_factor_pattern(monkeypatch):
    """After a fit on conditioned X (Z the same), the state on the design's own columns is
    factored on the fit's analysed pattern, with the numbers of a fresh analysis."""
    import lmmpy
    from lmmpy.glmm._pirls import ReweightedSystem

    formula = "cbind(incidence, size - incidence) ~ period + size1000 + (1 | herd)"
    share, seeded = ReweightedSystem.share_factor_structure, []

    def recorded(self, other):
        share(self, other)
        seeded.append(self._structure_from is not None)

    for nagq in (0, 1):
        seeded.clear()
        with monkeypatch.context() as patch:
            patch.setattr(ReweightedSystem, "share_factor_structure", recorded)
            shared = lmmpy.glmer(formula, _uncentred_cbpp(), "binomial", nagq=nagq)
        assert seeded == [True]
        with monkeypatch.context() as patch:
            patch.setattr(ReweightedSystem, "share_factor_structure", lambda self, other: None)
            fresh = lmmpy.glmer(formula, _uncentred_cbpp(), "binomial", nagq=nagq)
        assert shared.loglik == pytest.approx(fresh.loglik, rel=1e-13)
        np.testing.assert_allclose(shared.fixef, fresh.fixef, rtol=1e-11)
        np.testing.assert_allclose(shared.fixef_se, fresh.fixef_se, rtol=1e-9)


def test_layout_before_the_first_factorization_is_the_factors():
    import lmmpy
    from lmmpy.glmm.fit import glmm_setup

    system = glmm_setup("r2 ~ Anger + (1 | id) + (1 | item)", lmmpy.datasets.load("VerbAgg"),
                        "binomial")
    early = system.layout()
    assert system._objective is None   # the layout alone needs no factorization
    late = system.objective_at(system.response.start_eta()).layout
    for name in ("lambda_rows", "lambda_cols", "lambda_theta"):
        np.testing.assert_array_equal(getattr(early, name), getattr(late, name))
    assert early.size == late.size
