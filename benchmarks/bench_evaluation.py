"""Where one evaluation of InstEval's profiled deviance spends its time (blocked path).

    y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)    (ML, 73,421 ratings)

Times, at θ near the optimum (each a new θ, so no kept factor state is reused;
minimum and median of ``--repeats`` calls, in ms):

* ``value``: the factor at θ and the deviance (the Schur complement's assembly and
  its dense Cholesky);
* ``value and gradient``: the same plus the analytic gradient;
* the parts: ``schur complement`` (assembly, with the rank update's sparse
  product), ``dpotrf`` (its Cholesky), ``dpotri`` (its inverse, for the gradient),
  ``level forms`` (the gather of Λ_sM⁻¹Λ_s' over the rank update's pairs);
* ``set-up``: building the blocked factorization once (the tabulated pairs).

    python benchmarks/bench_evaluation.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy.linalg import lapack

from lmmpy.datasets import load
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products

FORMULA = "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)"
THETA = np.array([0.2759, 0.4354, 0.0889])


def _timed(function, repeats):
    seconds = []
    for i in range(repeats):
        start = time.perf_counter()
        function(i)
        seconds.append(time.perf_counter() - start)
    return 1e3 * min(seconds), 1e3 * statistics.median(seconds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    repeats = parser.parse_args(argv).repeats
    design = build_design(parse_formula(FORMULA), load("InstEval"))
    crossprods = cross_products(design)
    rows = [("set-up", _timed(lambda i: ProfiledDeviance(crossprods, design.terms, False),
                              max(3, repeats // 10)))]
    deviance = ProfiledDeviance(crossprods, design.terms, reml=False)
    factor = deviance.factor

    def theta(i):
        return THETA * (1 + 1e-6 * (i + 1))

    rows.append(("value", _timed(lambda i: deviance(theta(i)), repeats)))
    rows.append(("value and gradient",
                 _timed(lambda i: deviance.value_and_gradient(theta(i + repeats)), repeats)))
    V = factor._first[0]
    schur = factor._schur_complement(THETA, V)
    rows.append(("schur complement", _timed(lambda i: factor._schur_complement(THETA, V),
                                            repeats)))
    rows.append(("dpotrf", _timed(lambda i: lapack.dpotrf(schur.T, lower=0, clean=0), repeats)))
    rows.append(("dpotri", _timed(lambda i: factor._schur_inverse(), repeats)))
    inverse = factor._schur_inverse()
    rows.append(("level forms", _timed(lambda i: factor._level_forms(THETA, inverse),
                                       repeats)))
    print(f"{FORMULA}  (ML; Schur complement {factor.structure.qs} × {factor.structure.qs})")
    print(f"{'':20s} {'min ms':>8s} {'median ms':>10s}")
    for name, (fastest, median) in rows:
        print(f"{name:20s} {fastest:8.1f} {median:10.1f}")


if __name__ == "__main__":
    main()
