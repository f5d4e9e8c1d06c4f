"""How many threads the BLAS under numpy and scipy may use.

Small dense factorizations (the dense path's few-dozen-square matrices, a
bootstrap's many refits) gain nothing from OpenBLAS's threads and lose much
when another process competes for the cores: every call then waits for
threads that are descheduled.  ``threadpoolctl`` (a dependency) sets the limit
for the BLAS libraries numpy and scipy have loaded.
"""

from __future__ import annotations

_LIMITS = []   # keeps a worker's limit alive for the worker's lifetime


def single_blas_thread() -> None:
    """Limit the BLAS to one thread in this process (a process pool's initializer).

    Examples
    --------
    >>> single_blas_thread()
    """
    _LIMITS.append(blas_threads(1))


def blas_threads(limit: int):
    """A limit of ``limit`` BLAS threads: in force from the call, and usable as a context
    manager that restores the previous limits on leaving the block.

    Examples
    --------
    >>> with blas_threads(1):
    ...     pass
    """
    from threadpoolctl import threadpool_limits  # a dependency; imported on first use

    return threadpool_limits(limits=limit, user_api="blas")
