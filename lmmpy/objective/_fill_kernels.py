"""Compiled loops (numba) of the factor-size count in :mod:`lmmpy.objective._fill`.

Each takes the full symmetric pattern of A in CSC form (``indptr``,
``indices``, sorted, diagonal present) and runs in O(nnz(A) α(n)).
Imported only when a factor's size is counted; compiled once and cached on
disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def elimination_tree(indptr: np.ndarray, indices: np.ndarray,
                     n: int) -> np.ndarray:  # pragma: no cover - compiled
    """The parent of every column in the elimination tree (-1 at a root), with path
    compression through ``ancestor`` (Liu 1990)."""
    parent = np.full(n, -1, dtype=np.int64)
    ancestor = np.full(n, -1, dtype=np.int64)
    for k in range(n):
        for p in range(indptr[k], indptr[k + 1]):
            i = indices[p]
            while i != -1 and i < k:
                following = ancestor[i]
                ancestor[i] = k
                if following == -1:
                    parent[i] = k
                i = following
    return parent


@numba.njit(cache=True)
def postorder(parent: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover - compiled
    """A depth-first postorder of the forest ``parent`` (children before parents)."""
    head = np.full(n, -1, dtype=np.int64)
    sibling = np.full(n, -1, dtype=np.int64)
    for j in range(n - 1, -1, -1):
        if parent[j] != -1:
            sibling[j] = head[parent[j]]
            head[parent[j]] = j
    order = np.empty(n, dtype=np.int64)
    stack = np.empty(n, dtype=np.int64)
    k = 0
    for root in range(n):
        if parent[root] != -1:
            continue
        top = 0
        stack[0] = root
        while top >= 0:
            node = stack[top]
            child = head[node]
            if child == -1:
                top -= 1
                order[k] = node
                k += 1
            else:
                head[node] = sibling[child]
                top += 1
                stack[top] = child
    return order


@numba.njit(cache=True)
def column_counts(indptr: np.ndarray, indices: np.ndarray, parent: np.ndarray,
                  post: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover - compiled
    """Non-zeros of every column of L (diagonal included).

    Column j of L counts the row subtrees that contain j.  Walking the columns
    in postorder, each entry A(i, j), i > j, whose column j is a new leaf of
    row i's subtree adds one at j and, when the subtree had a leaf before,
    takes one away at the least common ancestor of the two leaves (found by
    union-find over the columns done so far); summing up the tree gives the
    counts (Gilbert, Ng & Peyton 1994).
    """
    first = np.full(n, -1, dtype=np.int64)      # first descendant in postorder
    max_first = np.full(n, -1, dtype=np.int64)  # per row: the last leaf's first descendant
    previous_leaf = np.full(n, -1, dtype=np.int64)
    ancestor = np.arange(n, dtype=np.int64)
    delta = np.zeros(n, dtype=np.int64)
    for k in range(n):
        j = post[k]
        delta[j] = 1 if first[j] == -1 else 0   # a leaf of the tree starts at 1
        while j != -1 and first[j] == -1:
            first[j] = k
            j = parent[j]
    for k in range(n):
        j = post[k]
        if parent[j] != -1:
            delta[parent[j]] -= 1
        for p in range(indptr[j], indptr[j + 1]):
            i = indices[p]
            if i <= j or first[j] <= max_first[i]:
                continue  # j is not a new leaf of row i's subtree
            max_first[i] = first[j]
            leaf = previous_leaf[i]
            previous_leaf[i] = j
            delta[j] += 1
            if leaf != -1:
                root = leaf
                while root != ancestor[root]:
                    root = ancestor[root]
                node = leaf
                while node != root:  # path compression
                    following = ancestor[node]
                    ancestor[node] = root
                    node = following
                delta[root] -= 1
        if parent[j] != -1:
            ancestor[j] = parent[j]
    for j in range(n):  # parent[j] > j in an elimination tree: one pass sums up the tree
        if parent[j] != -1:
            delta[parent[j]] += delta[j]
    return delta


@numba.njit(cache=True)
def joined_rows(pointer: np.ndarray, rows: np.ndarray, by_row_pointer: np.ndarray,
                by_row_level: np.ndarray, size: int, indptr: np.ndarray,
                indices: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """The lower pattern of G = Σ_j B_j'B_j by rows: rows a and b ≤ a are joined when some
    level j has both (``pointer``/``rows``: each level's rows, sorted; ``by_row_*``: each
    row's levels).  Returns the count of row a's distinct columns (diagonal included);
    when ``indices`` is not empty, also writes those columns there, unsorted, from
    ``indptr`` (made from the counts).  A marker per column keeps each once: Σ_j n_j²
    steps, O(size) memory.
    """
    fill = len(indices) > 0
    mark = np.full(size, -1, dtype=np.int64)
    counts = np.zeros(size, dtype=np.int64)
    for a in range(size):
        mark[a] = a
        if fill:
            indices[indptr[a]] = a
        counts[a] = 1
        for p in range(by_row_pointer[a], by_row_pointer[a + 1]):
            j = by_row_level[p]
            for e in range(pointer[j], pointer[j + 1]):
                b = rows[e]
                if b >= a:
                    break   # rows sorted within a level
                if mark[b] != a:
                    mark[b] = a
                    if fill:
                        indices[indptr[a] + counts[a]] = b
                    counts[a] += 1
    return counts
