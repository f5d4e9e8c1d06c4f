"""PIRLS solves, PIRLS steps and gradients of a VerbAgg fit (Laplace and nAGQ = 0).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_glmm_counts.py

The work a small model's fit does, independent of the machine's load: each criterion
evaluation is a PIRLS solve of a few steps, each step a reweighting and a factorization;
each gradient about one more factorization's worth (benchmarks/README.md, session 9).
"""

from __future__ import annotations

import time
import warnings

import lmmpy
import lmmpy.glmm._optimize as optimize

FORMULA = "r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item)"


def main() -> None:
    data = lmmpy.datasets.load("VerbAgg")
    counts = {}
    pirls, gradient = optimize.pirls, optimize.laplace_gradient

    def counted_pirls(*args, **kwargs):
        result = pirls(*args, **kwargs)
        counts["solves"] += 1
        counts["steps"] += result.iterations
        return result

    def counted_gradient(*args, **kwargs):
        counts["gradients"] += 1
        return gradient(*args, **kwargs)

    optimize.pirls, optimize.laplace_gradient = counted_pirls, counted_gradient
    try:
        for nagq in (1, 0):
            counts.update(solves=0, steps=0, gradients=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.process_time()
                model = lmmpy.glmer(FORMULA, data, "binomial", nagq=nagq)
                cpu = time.process_time() - start
            print(f"nagq={nagq}: {counts['solves']} PIRLS solves, {counts['steps']} steps, "
                  f"{counts['gradients']} gradients, {model.optimization.n_evaluations} "
                  f"evaluations, -2 logLik {-2 * model.loglik:.6f}, CPU {cpu:.3f} s "
                  "(the first fit includes loading compiled kernels)")
    finally:
        optimize.pirls, optimize.laplace_gradient = pirls, gradient


if __name__ == "__main__":
    main()
