"""A CSR or CSC matrix times dense vectors through scipy's own compiled kernels.

``A @ x`` on a scipy.sparse matrix dispatches in Python (shape checks, the index
dtype, the result's type) before it calls ``csr_matvec(s)``/``csc_matvec(s)``; on a
GLMM of a few thousand rows that costs as much as the product (PIRLS and the gradient
make ~200 such products per fit on VerbAgg).  :func:`times` calls the kernel scipy's
``@`` would call, with the arguments it would pass, so the result has the same bits;
anything else (another format or dtype, a scipy without the kernels) goes through
``@``.
"""

from __future__ import annotations

import numpy as np

try:   # private to scipy, but its sparse products have called them for two decades
    from scipy.sparse import _sparsetools
except ImportError:  # pragma: no cover - a scipy that moved them: the public product
    _sparsetools = None

_KERNELS = {} if _sparsetools is None else {
    ("csr", 1): _sparsetools.csr_matvec, ("csr", 2): _sparsetools.csr_matvecs,
    ("csc", 1): _sparsetools.csc_matvec, ("csc", 2): _sparsetools.csc_matvecs,
}


def times(A, x: np.ndarray) -> np.ndarray:
    """A @ x for a sparse A (CSR or CSC, float64) and a dense x (1-d or 2-d), as an ndarray.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> A = sp.csr_matrix(np.array([[1.0, 0.0], [2.0, 3.0]]))
    >>> times(A, np.array([1.0, 1.0])).tolist(), times(A.tocsc(), np.eye(2)).tolist()
    ([1.0, 5.0], [[1.0, 0.0], [2.0, 3.0]])
    """
    x = np.asarray(x)
    fmt = getattr(A, "format", None)
    if not _applies(A, fmt, x, A.shape[1]):
        return np.asarray(A @ x)
    return _product(fmt, A, *A.shape, x)


def transpose_times(A, x: np.ndarray) -> np.ndarray:
    """A' @ x for a CSR or CSC A without a transposed matrix object: A's arrays read as its
    transpose's in the other format (what ``A.T @ x`` does, the same bits)."""
    x = np.asarray(x)
    fmt = {"csr": "csc", "csc": "csr"}.get(getattr(A, "format", None))
    if not _applies(A, fmt, x, A.shape[0]):
        return np.asarray(A.T @ x)
    return _product(fmt, A, A.shape[1], A.shape[0], x)


def _applies(A, fmt: str | None, x: np.ndarray, inner: int) -> bool:
    return ((fmt, 1) in _KERNELS and x.ndim in (1, 2) and A.dtype == np.float64
            and x.dtype == np.float64 and x.shape[0] == inner)


def _product(fmt: str, A, M: int, N: int, x: np.ndarray) -> np.ndarray:
    """The M × N product on A's arrays (in format ``fmt``) as scipy makes it: the one-vector
    kernel for a vector or a single column (as ``@`` does: the several-vector kernel is
    slow for one), else the several-vector kernel."""
    if x.ndim == 1 or x.shape[1] == 1:
        out = np.zeros(M)
        _KERNELS[(fmt, 1)](M, N, A.indptr, A.indices, A.data, x.ravel(), out)
        return out if x.ndim == 1 else out.reshape(M, 1)
    out = np.zeros((M, x.shape[1]))
    _KERNELS[(fmt, 2)](M, N, x.shape[1], A.indptr, A.indices, A.data,
                       np.ascontiguousarray(x).ravel(), out.ravel())
    return out


def csr_from_arrays(shape: tuple[int, int], data: np.ndarray, indices: np.ndarray,
                    indptr: np.ndarray, kind: str = "csr"):
    """A CSR (or, with ``kind="csc"``, CSC) matrix on these arrays as they are (no copy, no
    format check: the caller's arrays are valid for the format, with sorted indices)."""
    import scipy.sparse as sp

    matrix = (sp.csr_matrix if kind == "csr" else sp.csc_matrix)(shape)
    matrix.data, matrix.indices, matrix.indptr = data, indices, indptr
    matrix.has_sorted_indices = True
    return matrix


def transposed_csr(A):
    """A' in CSR (sorted indices) for a CSR A: ``A.T.tocsr()``'s arrays from the one kernel
    call it makes, without the two matrix objects in between."""
    if _sparsetools is None or getattr(A, "format", None) != "csr":
        return A.T.tocsr()
    rows, cols = A.shape
    indptr = np.empty(cols + 1, dtype=A.indptr.dtype)
    indices = np.empty(A.nnz, dtype=A.indices.dtype)
    data = np.empty(A.nnz, dtype=A.data.dtype)
    _sparsetools.csr_tocsc(rows, cols, A.indptr, A.indices, A.data, indptr, indices, data)
    return csr_from_arrays((cols, rows), data, indices, indptr)


def with_data(template, data: np.ndarray):
    """A sparse matrix on ``template``'s pattern (its index arrays shared, not copied) with
    these values, without scipy's constructor and its checks: the template's attributes
    are all its pattern's (shape, format flags), which the copy keeps."""
    matrix = object.__new__(type(template))
    matrix.__dict__.update(template.__dict__)
    matrix.data = data
    return matrix
