"""Where a large GLMM's PIRLS step and gradient spend their time (issue 12, the 1M-row
binary crossed model; figures in benchmarks/README.md, session 9).

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_glmm_phases.py [n subjects items]

Defaults are issue 12's sizes (1,000,000 rows, 20,000 × 2,000); fewer rows with the same
levels (e.g. ``250000 20000 2000``) keep the Schur complement's size for a quicker look.
Prints, each as CPU seconds (elapsed beside; the parts measured on a second pass, after
the compiled kernels are loaded): a cold PIRLS solve (nAGQ = 0, β inside) at
θ = (1, 0.5), then the parts of one PIRLS step at its solution (working weights,
cross-products, the factor's gathers, the first term, the rank update, the whole update,
the PLS solve, the step's η and penalized deviance), the gradient and its selected
inverse, and a warm PIRLS solve at a nearby θ (as the optimizer's next evaluation).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

FORMULA = "y ~ x + (1 | subject) + (1 | item)"


class Clock:
    def __init__(self):
        self.start = (time.perf_counter(), time.process_time())

    def __str__(self) -> str:
        return (f"{time.process_time() - self.start[1]:8.3f} s CPU "
                f"({time.perf_counter() - self.start[0]:.3f} s)")



def timed(shown: bool, label: str, call):
    clock = Clock()
    out = call()
    if shown:
        print(f"  {label:<44s} {clock}", flush=True)
    return out


def main(n: int = 1_000_000, subjects: int = 20_000, items: int = 2_000) -> None:
    from simulated import binary_crossed

    from lmmpy.glmm._pirls import pirls
    from lmmpy.glmm.fit import glmm_setup

    print(f"n = {n:,}, {subjects:,} × {items:,}; load average {os.getloadavg()}", flush=True)
    data = binary_crossed(n, subjects, items)
    system = timed(True, "set-up (design, response)",
                   lambda: glmm_setup(FORMULA, data, "binomial"))
    theta = np.array([1.0, 0.5])
    result = timed(True, "cold PIRLS at θ = (1, 0.5), β inside",
                   lambda: pirls(system, theta, None, None, vary_beta=True))
    print(f"    {result.iterations} iterations", flush=True)
    for shown in (False, True):   # the first pass loads the compiled kernels
        _step_and_gradient(system, result, theta, shown)
    near = theta * 1.01
    warm = timed(True, "warm PIRLS at 1.01 θ",
                 lambda: pirls(system, near, result.beta, result.u, vary_beta=True))
    print(f"    {warm.iterations} iterations; load average {os.getloadavg()}", flush=True)


def say(shown: bool, text: str) -> None:
    if shown:
        print(text, flush=True)


def _step_and_gradient(system, result, theta, shown: bool) -> None:
    from lmmpy.glmm._gradient import _RowEffects, _selected_inverse, laplace_gradient

    eta = result.eta
    response, offset = system.response, system.design.offset
    say(shown, "one PIRLS step at the solution:")
    weights, z = timed(shown, "working weights and response",
                       lambda: response.working(eta, offset))
    crossprods = timed(shown, "weighted cross-products", lambda: system._crossprods.at(weights, z))
    objective = timed(shown, "with_crossprods (gathers)",
                      lambda: system._objective.with_crossprods(crossprods))
    factor = objective.factor
    _, V, _, _ = timed(shown, "first term", lambda: factor._first_term(theta))
    structure = factor.structure
    timed(shown, "rank update G = Σ B_j'Ω_jB_j", lambda: structure.update(V))
    timed(shown, "Schur complement (with rank update)", lambda: factor._schur_complement(theta, V))
    timed(shown, "whole factor update", lambda: factor.update(theta))
    solution = timed(shown, "PLS solve (with its own factor update)", lambda: objective.solve(theta))
    Lambda = system.Lambda(theta)
    eta2 = timed(shown, "linear predictor",
                 lambda: system.linear_predictor(solution.beta, Lambda @ solution.u))
    timed(shown, "penalized deviance", lambda: system.penalized_deviance(eta2, solution.u))
    say(shown, "gradient (nAGQ = 0) at the solution:")
    result.objective.factor.update(theta)
    inverse = timed(shown, "selected inverse", lambda: _selected_inverse(result.objective, theta))
    effects = _RowEffects(system, theta)
    timed(shown, "cross-entry gather (A⁻¹Λ'Z' per row)", lambda: effects.inverse_times_g(inverse))
    timed(shown, "whole gradient", lambda: laplace_gradient(system, result, True))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
