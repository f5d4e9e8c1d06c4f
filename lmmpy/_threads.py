"""How many threads the BLAS under numpy and scipy may use.

Small dense factorizations (the dense path's few-dozen-square matrices, a
bootstrap's many refits) gain nothing from OpenBLAS's threads and lose much
when another process competes for the cores: every call then waits for
threads that are descheduled.  ``threadpoolctl`` sets the limit for the BLAS
libraries numpy and scipy have loaded; without it the limit is left alone.
"""

from __future__ import annotations

import contextlib

_LIMITS = []   # keeps a worker's limit alive for the worker's lifetime


def single_blas_thread() -> None:
    """Limit the BLAS to one thread in this process (a process pool's initializer).

    Examples
    --------
    >>> single_blas_thread()
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return
    _LIMITS.append(threadpool_limits(limits=1, user_api="blas"))


@contextlib.contextmanager
def blas_threads(limit: int):
    """Within the block, the BLAS uses at most ``limit`` threads.

    Examples
    --------
    >>> with blas_threads(1):
    ...     pass
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    with threadpool_limits(limits=limit, user_api="blas"):
        yield
