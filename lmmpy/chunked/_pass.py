"""The second pass: each chunk's cross-products and column moments, summed in a tree.

A chunk's products are :func:`lmmpy.objective.cross_products` of its design
(the in-memory code), conditioned with the :class:`ChunkPlan` every chunk
shares, so they add up (:meth:`CrossProducts.__add__`) to the products of
all the rows.  Beside them, :class:`ChunkMoments` sums what the checks and
the conditioning of θ's columns need: the unweighted X̃'X̃ (aliasing) when
the fit is weighted, and each term's column sums and squares about the first
chunk's means (stable for a column far from zero).

The sums are made in one tree for every source (:func:`tree_sum`): adjacent
pairs, then pairs of pairs; Parquet's loop and Dask's graph add the same
numbers in the same order, so both give the same bits, and a retried Dask
task (a worker lost) changes nothing.  On this machine the loop gives its
partials up to each sum (:func:`combine_in_place`: the larger one's arrays
grow and take the sum); Dask's tasks never change their inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmmpy.chunked._design import ChunkDesigner, ChunkPlan
from lmmpy.objective import CrossProducts, cross_products


@dataclass(frozen=True)
class ChunkMoments:
    """Sums over a chunk's rows beside the cross-products.

    Attributes
    ----------
    gram : unweighted X̃'X̃ (all of X's columns), None when unweighted (the products' own)
    sums, squares : per term, Σ (v − r) and Σ (v − r)(v − r)' of its columns (r: the plan's
        references)
    response_sum : Σ (y − offset)
    """

    gram: np.ndarray | None
    sums: tuple[np.ndarray, ...]
    squares: tuple[np.ndarray, ...]
    response_sum: float

    def __add__(self, other: ChunkMoments) -> ChunkMoments:
        gram = None if self.gram is None else self.gram + other.gram
        return ChunkMoments(gram, tuple(a + b for a, b in zip(self.sums, other.sums, strict=True)),
                            tuple(a + b for a, b in zip(self.squares, other.squares, strict=True)),
                            self.response_sum + other.response_sum)


Partial = tuple[CrossProducts, ChunkMoments] | None


SLICE_ROWS = 1_000_000   # rows of a chunk whose design is made at once (a Dask partition of
                         # a whole 10⁷-row file is designed in slices of this many)


def chunk_products(frame: pd.DataFrame, source: str, designer: ChunkDesigner,
                   plan: ChunkPlan) -> Partial:
    """One chunk's products and moments (None for a chunk with no rows left); a chunk of
    more than ``SLICE_ROWS`` rows slice by slice, summed in a tree: its design's arrays
    (the model matrices, the sorts by level) are a slice's, not the chunk's."""
    if len(frame) <= SLICE_ROWS:
        return _slice_products(frame, source, designer, plan)
    slices = (frame.iloc[start:start + SLICE_ROWS] for start in range(0, len(frame),
                                                                        SLICE_ROWS))
    return tree_sum((_slice_products(part, source, designer, plan) for part in slices),
                    combine_in_place)


def _slice_products(frame: pd.DataFrame, source: str, designer: ChunkDesigner,
                    plan: ChunkPlan) -> Partial:
    try:
        design = designer.design(frame)
    except (ValueError, TypeError) as error:
        raise type(error)(f"{source}: {error}") from error
    if design is None:
        return None
    products = cross_products(design, conditioning=plan.conditioning, by_terms=True)
    gram = None
    if design.weights is not None:
        X = plan.conditioning.columns(design.X.values)
        gram = X.T @ X
    sums, squares = [], []
    for term, reference in zip(design.terms, plan.references, strict=True):
        V = term.model_matrix.values - reference
        sums.append(V.sum(axis=0))
        squares.append(V.T @ V)
    moments = ChunkMoments(gram, tuple(sums), tuple(squares),
                           float(np.sum(design.y - design.offset)))
    return products, moments


def combine(a: Partial, b: Partial, in_place: bool = False) -> Partial:
    """The sum of two chunks' partials (None: a chunk without rows); ``in_place``: both
    are given up, and Z'WZ's term blocks are summed into the larger one's arrays (no
    third array of the sum's size: :meth:`~lmmpy.objective.CrossProducts.added`)."""
    if a is None or b is None:
        return a if b is None else b
    return a[0].added(b[0], in_place), a[1] + b[1]


def combine_in_place(a: Partial, b: Partial) -> Partial:
    """:func:`combine` of partials nothing else holds (a loop's tree on this machine)."""
    return combine(a, b, in_place=True)


def tree_sum(items: Iterable, add: Callable) -> object:
    """Σ items by adjacent pairs, then pairs of pairs (a binary counter: at most log₂ n
    partial sums held at once); the same tree as :func:`tree_levels`."""
    stack: list[tuple[int, object]] = []   # (height, partial sum)
    for item in items:
        height = 0
        while stack and stack[-1][0] == height:
            item = add(stack.pop()[1], item)
            height += 1
        stack.append((height, item))
    if not stack:
        raise ValueError("there are no chunks to sum")
    total = stack.pop()[1]
    while stack:
        total = add(stack.pop()[1], total)
    return total


def tree_levels(items: list, add: Callable) -> object:
    """The same tree as :func:`tree_sum`, level by level (to build a Dask graph): pairs
    of adjacent items, an odd one carried up."""
    if not items:
        raise ValueError("there are no chunks to sum")
    while len(items) > 1:
        paired = [add(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        items = paired + ([items[-1]] if len(items) % 2 else [])
    return items[0]
