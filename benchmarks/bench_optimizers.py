"""Objective evaluations of candidate optimizers on every LMM reference case.

For each case the profiled deviance is built once and minimised from lme4's
start by

* ``bobyqa``: NLopt's BOBYQA with lme4's settings (what ``lmmpy.optimize`` runs
  without a gradient: the CHOLMOD path),
* ``cobyqa``: SciPy's COBYQA (Ragonneau & Zhang), the successor of BOBYQA,
* ``l-bfgs-b fd``: SciPy's L-BFGS-B with a finite-difference gradient (2-point,
  step 1e-8: each gradient costs as many evaluations as θ has entries),
* ``l-bfgs-b``: SciPy's L-BFGS-B on the analytic gradient (``ftol = 1e-11``,
  ``gtol = 1e-6``; what ``lmmpy.optimize`` ran on the blocked path until
  session 3; one evaluation here is a value and its gradient),
* ``em+bfgs``: what ``lmmpy.optimize`` runs on the blocked path: EM steps from
  lme4's start, then projected BFGS from the curvature EM assumes (an
  evaluation is a value, or a value and its gradient),
* ``newton``: lmmpy's projected Newton method on the analytic Hessian (what
  ``lmmpy.optimize`` runs on the dense path, so timed there; an evaluation is a
  value, or a value with its gradient and Hessian),

counting the optimizer's own evaluations and timing it (lmmpy's boundary snap,
restarts, convergence checks and Newton step come on top). The table shows, per
method, the evaluations, the milliseconds and the optimum's excess over the best
objective of the six (0 = reached the best; more than ~1e-6 means a worse optimum).
The total of ``newton`` is over the cases the dense path takes (all but InstEval,
sim_schools and pastes_three_level).

    python benchmarks/bench_optimizers.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.optimize as so

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from reference import case_files, load_case, load_case_data  # noqa: E402

from lmmpy._descent import em_metric, projected_bfgs, projected_newton  # noqa: E402
from lmmpy.design import build_design  # noqa: E402
from lmmpy.formula import parse_formula  # noqa: E402
from lmmpy.objective import ProfiledDeviance, cross_products  # noqa: E402
from lmmpy.objective._dense import MAX_DENSE_SIZE  # noqa: E402
from lmmpy.optimize import _bobyqa, _CountingObjective, _em_steps  # noqa: E402


class Counted:
    def __init__(self, objective):
        self.objective, self.count = objective, 0

    def __call__(self, theta, gradient=None):
        self.count += 1
        value = self.objective(np.asarray(theta, dtype=float))
        return value if np.isfinite(value) else 1e300

    def with_gradient(self, theta):
        self.count += 1
        return self.objective.value_and_gradient(np.asarray(theta, dtype=float))


def run(method, objective, start, lower):
    counted = Counted(objective)
    bounds = so.Bounds(lower, np.full(len(lower), np.inf))
    began = time.perf_counter()
    if method == "bobyqa":
        _, value, _ = _bobyqa(counted, start, lower, 1e-8, 1e-8, 1e-4, 100_000)
    elif method == "cobyqa":
        value = so.minimize(counted, start, method="COBYQA", bounds=bounds,
                            options={"f_target": -np.inf, "final_tr_radius": 1e-8}).fun
    elif method == "l-bfgs-b fd":
        value = so.minimize(counted, start, method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-12, "gtol": 1e-6, "eps": 1e-8}).fun
    elif method == "l-bfgs-b":
        value = so.minimize(counted.with_gradient, start, jac=True, method="L-BFGS-B",
                            bounds=bounds,
                            options={"ftol": 1e-11, "gtol": 1e-6}).fun
    elif method == "em+bfgs":
        counted = _CountingObjective(objective, objective.value_and_gradient)
        first = _em_steps(counted, start, lower, objective.em_update)
        metric = lambda theta: em_metric(objective.em_update, theta)  # noqa: E731
        value = projected_bfgs(counted, first, lower, metric)[1]
    else:
        dense = ProfiledDeviance(objective.crossprods, objective.terms, objective.reml,
                                 _path="dense")
        newton = _CountingObjective(dense, None, dense.value_gradient_hessian)
        began = time.perf_counter()
        value = projected_newton(newton, start, lower)[1]
        return newton.count, 1e3 * (time.perf_counter() - began), value
    return counted.count, 1e3 * (time.perf_counter() - began), value


def dense_applies(objective) -> bool:
    return objective.layout.size + objective.crossprods.n_fixed + 1 <= MAX_DENSE_SIZE


def main():
    methods = ("bobyqa", "cobyqa", "l-bfgs-b fd", "l-bfgs-b", "em+bfgs", "newton")
    print(f"{'case':26s}" + "".join(f"{m:>13s} n    ms  excess" for m in methods))
    totals = {m: [0, 0.0] for m in methods}
    for name in case_files("fit"):
        case = load_case(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            design = build_design(parse_formula(case["formula"]), load_case_data(case),
                                  weights=case["weights"], offset=case["offset"])
        objective = ProfiledDeviance(cross_products(design), design.terms, case["REML"])
        start, lower = design.theta_start(), design.theta_lower_bounds()
        results = {m: run(m, objective, start, lower) for m in methods
                   if m != "newton" or dense_applies(objective)}
        best = min(value for _, _, value in results.values())
        row = "".join(f"{count:15d} {ms:5.0f} {value - best:7.1e}"
                      for count, ms, value in results.values())
        row += "" if "newton" in results else f"{'—':>15s}"
        print(f"{name:26s}{row}", flush=True)
        for m in results:
            totals[m][0] += results[m][0]
            totals[m][1] += results[m][1]
    print(f"{'total':26s}" + "".join(f"{n:15d} {ms:5.0f}        "
                                     for n, ms in totals.values()))


if __name__ == "__main__":
    main()
