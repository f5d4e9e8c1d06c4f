"""One implementation, tested both ways: the chunks' products add up to the whole's."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from chunked_helpers import simulated_crossed, split
from reference import case_design, case_files, load_case, load_case_data

from lmmpy.chunked import FrameChunks
from lmmpy.chunked._design import ChunkDesigner, chunk_plan
from lmmpy.chunked._fit import first_design, learn_schema, whole_design
from lmmpy.chunked._pass import chunk_products, combine, tree_levels, tree_sum
from lmmpy.chunked._sources import subtree_size
from lmmpy.formula import parse_formula
from lmmpy.objective import cross_products
from lmmpy.objective._crossprod import _sum_products

LMM_CASES = case_files("fit")


def _chunked(name: str, parts: int):
    """(products, moments, designer, plan, prototype, schema) of a reference case's data in
    ``parts`` chunks."""
    case = load_case(name)
    formula = parse_formula(case["formula"])
    source = FrameChunks(split(load_case_data(case), parts))
    schema = learn_schema(formula, source, case["weights"], case["offset"])
    designer = ChunkDesigner.of(formula, schema, case["weights"], case["offset"])
    prototype = first_design(source, designer)
    plan = chunk_plan(prototype)
    function = functools.partial(chunk_products, designer=designer, plan=plan)
    products, moments = source.reduce(function, combine, list(schema.columns.all))
    return products, moments, designer, plan, prototype, schema, source


def _close(a, b, rtol=1e-12):
    a = a.toarray() if sp.issparse(a) else np.asarray(a)
    b = b.toarray() if sp.issparse(b) else np.asarray(b)
    scale = max(np.abs(b).max(), 1.0)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("name", LMM_CASES)
def test_chunks_sum_to_the_whole_with_the_same_conditioning(name):
    products, _, designer, plan, _, schema, _ = _chunked(name, 3)
    whole = load_case_data(load_case(name))[list(schema.columns.all)]
    single = cross_products(designer.design(whole), conditioning=plan.conditioning)
    assert products.n_obs == single.n_obs == schema.n_kept
    _close(products.ZtZ_dense(), single.ZtZ_dense())
    _close(products.ZtXy, single.ZtXy)
    _close(products.XytXy, single.XytXy)
    assert products.sum_log_weights == pytest.approx(single.sum_log_weights, rel=1e-12)


@pytest.mark.parametrize("name", LMM_CASES)
def test_chunked_products_are_the_in_memory_products_in_the_design_coordinates(name):
    products, moments, _, plan, prototype, schema, _ = _chunked(name, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design, crossprods = whole_design(prototype, plan, schema, products, moments,
                                          load_case(name)["offset"])
    _, in_memory = case_design(name)
    expected = cross_products(in_memory)
    assert design.beta_names == in_memory.beta_names
    assert [t.group_name for t in design.terms] == [t.group_name for t in in_memory.terms]
    assert all(list(a.levels) == list(b.levels) for a, b in zip(design.terms, in_memory.terms,
                                                                 strict=True))
    _close(crossprods.ZtZ_dense(), expected.ZtZ_dense())
    _close(crossprods.ZtX(), expected.ZtX(), rtol=1e-10)
    _close(crossprods.XtX(), expected.XtX(), rtol=1e-10)
    assert design.n_obs == in_memory.n_obs and design.n_dropped == in_memory.n_dropped


@pytest.mark.parametrize("n", range(1, 18))
def test_the_loop_and_the_graph_add_in_the_same_tree(n):
    items = [str(i) for i in range(n)]
    add = lambda a, b: f"({a}+{b})"   # noqa: E731
    assert tree_sum(iter(items), add) == tree_levels(items, add)


def test_no_chunks_is_an_error():
    with pytest.raises(ValueError, match="no chunks"):
        tree_sum(iter([]), combine)


def test_sparse_sums_keep_explicit_zeros():
    a = sp.csc_matrix((np.array([1.0, 0.0]), np.array([0, 1]), np.array([0, 1, 2])),
                      shape=(2, 2))
    b = sp.csc_matrix((np.array([2.0]), np.array([0]), np.array([0, 1, 1])), shape=(2, 2))
    total = _sum_products(a, b)
    assert total.nnz == 2 and total.toarray().tolist() == [[3.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("seed", range(4))
def test_sparse_sums_are_the_triplet_sums_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    a, b = (sp.random(60, 50, density=rng.uniform(0.01, 0.5), random_state=rng, format="csc")
            for _ in range(2))
    a.data[::3] = 0.0   # explicit zeros stay
    total = _sum_products(a, b)
    ca, cb = a.tocoo(), b.tocoo()
    expected = sp.coo_matrix((np.concatenate([ca.data, cb.data]),
                              (np.concatenate([ca.row, cb.row]),
                               np.concatenate([ca.col, cb.col]))), shape=a.shape).tocsc()
    expected.sort_indices()
    assert total.has_sorted_indices
    for name in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(total, name), getattr(expected, name))


def test_sparse_sums_of_other_shapes_are_refused():
    from lmmpy.objective._sum_kernels import csc_union_sum

    with pytest.raises(ValueError, match=r"shapes \(2, 2\) and \(3, 2\)"):
        csc_union_sum(sp.csc_matrix((2, 2)), sp.csc_matrix((3, 2)))


def test_products_of_different_designs_do_not_add():
    one, *_ = _chunked("sleepstudy_slope_reml", 2)
    other, *_ = _chunked("dyestuff_reml", 2)
    with pytest.raises(ValueError, match="cannot be added"):
        one + other


@pytest.mark.parametrize("slice_rows", [7, 50, 10_000])
def test_a_large_chunk_is_designed_in_slices_with_the_same_products(slice_rows, monkeypatch):
    from lmmpy.chunked import _pass

    frame = simulated_crossed(600, levels=(150, 40))
    formula = parse_formula("y ~ x + (x | g1) + (1 | g2)")
    source = FrameChunks([frame])
    schema = learn_schema(formula, source, None, None)
    designer = ChunkDesigner.of(formula, schema, None, None)
    plan = chunk_plan(first_design(source, designer))
    whole = chunk_products(frame, "frame", designer, plan)
    monkeypatch.setattr(_pass, "SLICE_ROWS", slice_rows)
    sliced = chunk_products(frame, "frame", designer, plan)
    assert sliced[0].n_obs == whole[0].n_obs == 600
    _close(sliced[0].ZtZ_dense(), whole[0].ZtZ_dense())
    _close(sliced[0].ZtXy, whole[0].ZtXy)
    _close(sliced[0].XytXy, whole[0].XytXy)
    _close(sliced[1].squares[0], whole[1].squares[0])
    assert sliced[1].response_sum == pytest.approx(whole[1].response_sum, rel=1e-12)


@pytest.mark.parametrize("n", [1, 5, 10, 17, 64, 100])
@pytest.mark.parametrize("workers", [1, 2, 8])
def test_the_cluster_sums_subtrees_of_the_same_tree(n, workers):
    """Dask's tasks sum aligned subtrees of 2ᵏ partitions, the driver the levels above
    them: together the one tree of the loop over row groups."""
    items = [str(i) for i in range(n)]
    add = lambda a, b: f"({a}+{b})"   # noqa: E731
    size = subtree_size(n, workers)
    assert size & (size - 1) == 0 and (size == 1 or n / size >= 4 * workers)
    subtrees = [tree_levels(items[start:start + size], add) for start in range(0, n, size)]
    assert tree_sum(iter(subtrees), add) == tree_levels(items, add)
