"""How many threads the BLAS under numpy and scipy may use.

Small dense factorizations (the dense path's few-dozen-square matrices, a
bootstrap's many refits) gain nothing from OpenBLAS's threads and lose much
when another process competes for the cores: every call then waits for
threads that are descheduled.  ``threadpoolctl`` (a dependency) sets the limit
for the BLAS libraries numpy and scipy have loaded (and CHOLMOD's, when loaded).

The policy of a fit (:func:`fit_threads`, around ``lmer``'s optimizer and
solution): one BLAS thread when the largest dense factor of an evaluation is
smaller than ``THREADED_SIZE`` (every Schur complement of the blocked path:
InstEval's 1,159 square, crossed-100k's 3,002), where a second thread gains
little on an idle machine and costs many times over on a busy one (with one
busy loop beside it, InstEval 124.7 s on two threads against 19.9 s on one,
crossed-100k 440 s against 110 s; benchmarks/README.md); the BLAS's own
default for larger factors (CHOLMOD's filled-in tail), where the work per
call is large enough to split.  The dense path (at most 128 square, which OpenBLAS
does not split) is left alone: setting a limit costs ~1.5 ms, a small fit's
whole time.  The environment variable
``LMMPY_BLAS_THREADS`` (a positive integer) overrides the policy for every fit.
"""

from __future__ import annotations

import contextlib
import os

THREADED_SIZE = 6000   # dense factors at least this large may use the BLAS's threads
ENVIRONMENT = "LMMPY_BLAS_THREADS"

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


def fit_threads(deviance):
    """The BLAS thread limit for fitting ``deviance`` (module docstring), as a context
    manager; a no-op when the policy leaves the BLAS's default.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> m.objective.path, fit_threads_limit(m.objective)    # the dense path: left alone
    ('dense', None)
    """
    limit = fit_threads_limit(deviance)
    return contextlib.nullcontext() if limit is None else blas_threads(limit)


def fit_threads_limit(deviance) -> int | None:
    """``LMMPY_BLAS_THREADS`` when set, else None (the BLAS's default) on the dense path
    and for dense factors of at least ``THREADED_SIZE``, else 1."""
    setting = os.environ.get(ENVIRONMENT, "").strip()
    if setting:
        if not setting.isdigit() or int(setting) < 1:
            raise ValueError(f"{ENVIRONMENT} must be a positive integer, not {setting!r}")
        return int(setting)
    if deviance.path == "dense" or dense_size(deviance) >= THREADED_SIZE:
        return None
    return 1


def dense_size(deviance) -> int:
    """The order of the largest dense matrix an evaluation factors: the augmented matrix
    (dense path), the Schur complement (blocked), q as a bound on CHOLMOD's largest
    supernode."""
    path = deviance.path
    if path == "blocked":
        return deviance.factor.structure.qs + deviance.crossprods.n_fixed + 1
    if path == "cholmod":
        return deviance.layout.size
    return deviance.layout.size + deviance.crossprods.n_fixed + 1
