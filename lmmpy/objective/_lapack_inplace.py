"""LAPACK's ``dpotri`` on the leading block of a larger factor, in place.

scipy's ``lapack.dpotri`` takes a contiguous matrix: the leading q×q block of the
blocked factor's (q + p + 1)-square factor is copied first, and the inverse is a
second array of its size (0.8 GB for 10,000 items).  The same routine from
``scipy.linalg.cython_lapack`` (the LAPACK scipy is linked to) is given the
block's leading dimension instead, through ctypes.
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np


@functools.cache
def _dpotri():
    from scipy.linalg import cython_lapack

    capsule = cython_lapack.__pyx_capi__["dpotri"]
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    pointer = ctypes.pythonapi.PyCapsule_GetPointer
    pointer.restype, pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    integer = ctypes.POINTER(ctypes.c_int)
    signature = ctypes.CFUNCTYPE(None, ctypes.c_char_p, integer, ctypes.c_void_p, integer,
                                 integer)
    return signature(pointer(capsule, name(capsule)))


def potri_leading(upper: np.ndarray, n: int) -> None:
    """The leading n×n block of ``upper`` (Fortran order, its upper triangle U with
    U'U = M) becomes M⁻¹'s upper triangle; the rest of the array is not touched.

    Examples
    --------
    >>> M = np.array([[4.0, 2.0, 1.0], [2.0, 5.0, 0.0], [1.0, 0.0, 9.0]])
    >>> U = np.asfortranarray(np.linalg.cholesky(M).T)
    >>> potri_leading(U, 2)
    >>> np.allclose(np.triu(U[:2, :2]), np.triu(np.linalg.inv(M[:2, :2])))
    True
    """
    if not upper.flags.f_contiguous or upper.dtype != np.float64:
        raise ValueError("potri_leading needs a Fortran-ordered float64 array")
    if not 0 <= n <= min(upper.shape):
        raise ValueError(f"the leading block's order {n} exceeds the array's {upper.shape}")
    size, lda, info = ctypes.c_int(n), ctypes.c_int(max(1, upper.shape[0])), ctypes.c_int(0)
    _dpotri()(b"U", ctypes.byref(size), upper.ctypes.data, ctypes.byref(lda),
              ctypes.byref(info))
    if info.value != 0:
        raise np.linalg.LinAlgError(f"Schur complement not invertible ({info.value})")
