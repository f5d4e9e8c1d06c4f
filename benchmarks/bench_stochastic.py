"""The opt-in stochastic fit (objective/_stochastic.py) of issue 14's ratings models.

    python benchmarks/bench_stochastic.py 1000000 60000 8000 --exact   # + the exact deviance
    python benchmarks/bench_stochastic.py 2000000 200000 20000         # the 2M model

BOBYQA on the stochastic deviance (fixed probes) from the moment start; prints θ̂, the
estimate's standard error at θ̂, elapsed and CPU seconds, peak memory; with ``--exact``
also the exact deviance at that θ̂ (the blocked path), to compare with the exact fit's.
"""

from __future__ import annotations

import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))


def main(n: int, users: int, items: int, exact: bool, probes: int, steps: int) -> None:
    from ratings import FORMULA, ratings

    from lmmpy._moments import moment_theta
    from lmmpy.design import build_design
    from lmmpy.formula import parse_formula
    from lmmpy.objective import ProfiledDeviance, cross_products
    from lmmpy.objective._lambda import theta_layout
    from lmmpy.objective._stochastic import StochasticFactorization
    from lmmpy.optimize import optimize_theta

    print("load average", os.getloadavg(), flush=True)
    design = build_design(parse_formula(FORMULA), ratings(n, users, items))
    crossprods = cross_products(design)
    start = time.perf_counter(), time.process_time()
    factor = StochasticFactorization(crossprods, theta_layout(design.terms), probes, steps)
    deviance = ProfiledDeviance(crossprods, design.terms, reml=False, _factor=factor)
    summary = optimize_theta(deviance, moment_theta(design), design.theta_lower_bounds(),
                             check_convergence=False)
    elapsed, cpu = time.perf_counter() - start[0], time.process_time() - start[1]
    deviance(summary.theta)
    print(f"stochastic fit ({probes} probes, {steps} Lanczos steps): θ̂ = {summary.theta}, "
          f"deviance ≈ {summary.objective:.3f} ± {factor.standard_error:.3f}, "
          f"{summary.n_evaluations} evaluations, {elapsed:.1f} s elapsed, {cpu:.1f} s CPU, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB",
          flush=True)
    if exact:
        exact_deviance = ProfiledDeviance(crossprods, design.terms, reml=False)
        print(f"exact deviance at that θ̂ ({exact_deviance.path}): "
              f"{exact_deviance(summary.theta):.6f}", flush=True)
    print("load average", os.getloadavg())


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    options = dict(a[2:].split("=") for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    main(*(int(a) for a in arguments[:3]), exact="--exact" in sys.argv,
         probes=int(options.get("probes", 32)), steps=int(options.get("steps", 12)))
