"""Where a large crossed fit's time goes (issue 14; figures in benchmarks/README.md, session 9).

    python benchmarks/bench_crossed_parts.py parts blocked [n users items]  # a value, a gradient
    python benchmarks/bench_crossed_parts.py parts cholmod [n users items]
    python benchmarks/bench_crossed_parts.py too-large        # 2 M rows, 100,000 × 50,000: the error
    python benchmarks/bench_crossed_parts.py gflops 4000 8000 # this machine's dense Cholesky

Run with ``OPENBLAS_NUM_THREADS=1`` for CPU times comparable with lme4's; each line gives
elapsed and CPU seconds, and the load average is printed first and last.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))


def _clock():
    return time.perf_counter(), time.process_time()


def _since(start) -> str:
    return (f"{time.perf_counter() - start[0]:.2f} s elapsed, "
            f"{time.process_time() - start[1]:.2f} s CPU")


def parts(path: str, n: int = 1_000_000, users: int = 60_000, items: int = 8_000) -> None:
    """Set-up, one value and one value with gradient of the ratings model on ``path``."""
    from ratings import FORMULA, ratings

    from lmmpy.design import build_design
    from lmmpy.formula import parse_formula
    from lmmpy.objective import ProfiledDeviance, cross_products

    start = _clock()
    design = build_design(parse_formula(FORMULA), ratings(n, users, items))
    crossprods = cross_products(design)
    print("data, design, cross-products:", _since(start), flush=True)
    start = _clock()
    deviance = ProfiledDeviance(crossprods, design.terms, reml=False, _path=path)
    print(f"set-up ({deviance.path}):", _since(start), flush=True)
    start = _clock()
    print(f"value {deviance(np.array([0.5, 0.7])):.6f}:", _since(start), flush=True)
    start = _clock()
    value, gradient = deviance.value_and_gradient(np.array([0.505, 0.707]))
    print(f"value and gradient {value:.6f} {gradient}:", _since(start), flush=True)
    if path == "cholmod":
        from lmmpy.objective._selinv import _max_tail, tail_start

        L = deviance.factor.factor.lower()
        print(f"factor: {L.nnz:,} non-zeros, {L.shape[0]:,} columns, the last "
              f"{L.shape[0] - tail_start(L.indptr, _max_tail()):,} a dense tail", flush=True)


def too_large() -> None:
    """issue 14's 100,000 × 50,000 design on 2 M rows: the time until the error."""
    from simulated import crossed

    import lmmpy

    data = crossed(2_000_000, 100_000, 50_000)
    start = _clock()
    try:
        lmmpy.lmer("y ~ x1 + x2 + (1 | g1) + (1 | g2)", data)
    except MemoryError as error:
        print(f"{type(error).__name__}: {error}")
    print("lmer until the error:", _since(start))


def gflops(*sizes: int) -> None:
    """dpotrf (n³/3 flops) and dpotri (2n³/3) on a random SPD matrix of each size."""
    from scipy.linalg import lapack

    for n in sizes:
        X = np.random.default_rng(0).standard_normal((n, n))
        A = np.asfortranarray(X @ X.T + n * np.eye(n))
        del X
        start = _clock()
        factor, _ = lapack.dpotrf(A, lower=1, overwrite_a=1, clean=0)
        seconds = time.perf_counter() - start[0]
        print(f"n = {n}: dpotrf {_since(start)}, {n**3 / 3 / seconds / 1e9:.1f} GFLOPS")
        start = _clock()
        lapack.dpotri(factor, lower=1, overwrite_c=1)
        seconds = time.perf_counter() - start[0]
        print(f"n = {n}: dpotri {_since(start)}, {2 * n**3 / 3 / seconds / 1e9:.1f} GFLOPS")


if __name__ == "__main__":
    print("load average", os.getloadavg(), flush=True)
    command, arguments = sys.argv[1], sys.argv[2:]
    if command == "parts":
        parts(arguments[0], *(int(a) for a in arguments[1:]))
    elif command == "too-large":
        too_large()
    elif command == "gflops":
        gflops(*(int(a) for a in arguments))
    else:
        raise SystemExit(f"unknown command {command!r}: parts, too-large or gflops")
    print("load average", os.getloadavg())
