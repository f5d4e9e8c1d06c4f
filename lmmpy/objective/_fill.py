"""The size of a sparse Cholesky factor before it is computed, and the check that it fits.

CHOLMOD's analysis picks the fill-reducing permutation P; how many non-zeros
the factor L of ``P A P'`` has then follows from the pattern alone.  Row i of
L is the subtree of the elimination tree (Liu 1990, SIAM J. Matrix Anal.
Appl. 11(1)) spanned by the non-zeros of row i of A, so the column counts of
L are found without forming L, in O(nnz(A) α(n)) time, by counting each row
subtree's leaves and their least common ancestors (Gilbert, Ng & Peyton 1994,
SIAM J. Matrix Anal. Appl. 15(4); Davis 2006, *Direct Methods for Sparse
Linear Systems*, §4.4-4.5).  A crossed design whose factor fills in to
billions of entries is then refused with a message saying so, before
CHOLMOD allocates it and fails with ``problem too large`` or ``out of memory``
(or the machine swaps).
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp

BYTES_PER_ENTRY = 8  # a double per non-zero of L: the least the numeric factor needs


class FactorTooLargeError(MemoryError):
    """The sparse Cholesky factor of a model needs more memory than the machine has.

    Examples
    --------
    >>> issubclass(FactorTooLargeError, MemoryError)
    True
    """


def factor_nonzeros(pattern: sp.spmatrix, permutation: np.ndarray | None = None) -> int:
    """The number of non-zeros of the Cholesky factor L of ``A[p][:, p]`` (diagonal included).

    Parameters
    ----------
    pattern : scipy.sparse matrix
        The pattern of the symmetric matrix A: its lower triangle, upper
        triangle or both (only where entries are matters).
    permutation : array of int, optional
        The fill-reducing ordering p (CHOLMOD's ``Factor.P()``); none by default.

    Examples
    --------
    >>> arrow = sp.eye(5, format="lil"); arrow[4, :] = 1; arrow[:, 4] = 1
    >>> factor_nonzeros(arrow), factor_nonzeros(arrow, np.array([4, 0, 1, 2, 3]))
    (9, 15)
    """
    return int(column_counts(pattern, permutation).sum())


def column_counts(pattern: sp.spmatrix, permutation: np.ndarray | None = None) -> np.ndarray:
    """The non-zeros of each column of the Cholesky factor L of ``A[p][:, p]``.

    Examples
    --------
    >>> arrow = sp.eye(3, format="lil"); arrow[2, :] = 1; arrow[:, 2] = 1
    >>> column_counts(arrow).tolist(), column_counts(arrow, np.array([2, 0, 1])).tolist()
    ([2, 2, 1], [3, 2, 1])
    """
    return _counts_and_tree(pattern, permutation)[0]


def stored_entries(pattern: sp.spmatrix, permutation: np.ndarray | None = None) -> int:
    """The entries a supernodal factor stores, at least: each fundamental supernode (a
    chain of columns whose patterns nest, j's parent j + 1 with one row fewer) as a
    dense rectangle, rows × columns — up to twice the non-zeros where the factor is dense.

    Examples
    --------
    >>> dense = sp.csc_matrix(np.ones((4, 4)))
    >>> factor_nonzeros(dense), stored_entries(dense)
    (10, 16)
    """
    return supernodal_entries(*_counts_and_tree(pattern, permutation))


def supernodal_entries(counts: np.ndarray, parent: np.ndarray) -> int:
    """:func:`stored_entries` from the column counts and the elimination tree."""
    n = len(counts)
    if not n:
        return 0
    chained = (parent[:-1] == np.arange(1, n)) & (counts[1:] == counts[:-1] - 1)
    starts = np.flatnonzero(np.concatenate([[True], ~chained]))
    widths = np.diff(np.concatenate([starts, [n]]))
    return int(np.sum(counts[starts].astype(np.int64) * widths))


def _counts_and_tree(pattern, permutation) -> tuple[np.ndarray, np.ndarray]:
    """Column counts of L and the elimination tree (parents) of ``A[p][:, p]``."""
    full = _symmetric_pattern(pattern)
    if permutation is not None:
        full = full[permutation][:, permutation]
    full = sp.csc_matrix(full)
    full.sort_indices()
    indptr = full.indptr.astype(np.int64)
    indices = full.indices.astype(np.int64)
    n = full.shape[0]
    from lmmpy.objective import _fill_kernels

    parent = _fill_kernels.elimination_tree(indptr, indices, n)
    post = _fill_kernels.postorder(parent, n)
    counts = _fill_kernels.column_counts(indptr, indices, parent, post, n)
    return np.asarray(counts), np.asarray(parent)


def _symmetric_pattern(pattern: sp.spmatrix) -> sp.csc_matrix:
    structure = sp.csc_matrix(pattern, copy=True)
    structure.data = np.ones_like(structure.data, dtype=np.int8)
    return sp.csc_matrix(structure + structure.T + sp.eye(structure.shape[0], dtype=np.int8,
                                                          format="csc"))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), else the
    physical memory, else None when the system says neither."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_factor_fits(pattern: sp.spmatrix, permutation: np.ndarray) -> None:
    """Raise :class:`FactorTooLargeError` when the factor of ``pattern`` under
    ``permutation`` cannot fit in the available memory.

    The memory counted is that of the supernodal storage (:func:`stored_entries`),
    which CHOLMOD allocates at once.  A factor that fits even if dense (n² entries)
    is not counted.
    """
    memory = available_memory()
    n = pattern.shape[0]
    if memory is None or BYTES_PER_ENTRY * n * n <= memory / 2:
        return
    nonzeros = factor_nonzeros(pattern, permutation)
    stored = stored_entries(pattern, permutation)
    if BYTES_PER_ENTRY * stored > memory:
        raise FactorTooLargeError(too_large_message(n, nonzeros, memory, stored=stored))


def too_large_message(n_random_effects: int, nonzeros: int | None, memory: int | None,
                      reason: str | None = None, stored: int | None = None,
                      predicted: bool = False) -> str:
    """What was too large, the memory it needs, and what to do about it (``predicted``: a
    size counted before any analysis, :mod:`lmmpy.objective._schurfill`).

    Examples
    --------
    >>> message = too_large_message(200_000, 5_000_000_000, 16_000_000_000)
    >>> "5,000,000,000 non-zeros, which needs at least 40.0 GB of memory where 16.0 GB" in message
    True
    """
    if nonzeros is not None:
        about = "about " if predicted else ""
        size = (f"its {n_random_effects:,} random effects make a sparse Cholesky factor of "
                f"{about}{nonzeros:,} non-zeros, which needs at least "
                f"{_gigabytes(BYTES_PER_ENTRY * max(nonzeros, stored or 0))} of memory")
        if memory is not None:
            size += f" where {_gigabytes(memory)} are available"
    else:
        size = f"the sparse Cholesky factor of its {n_random_effects:,} random effects"
    if reason:
        size += f" ({reason})" if predicted else f" (CHOLMOD: {reason})"
    return (
        f"this model is too large to fit: {size}. Crossed random-effects terms with many "
        "levels fill the factor in; fit a model with fewer levels (group rare levels "
        "together, or fit a subset of the data), fewer crossed terms, or a nested instead "
        "of a crossed structure"
    )


def _gigabytes(count: int) -> str:
    return f"{count / 1e9:,.1f} GB"
