"""The set-up of a GLMM fit — everything before the optimizer starts (issue 12; figures
in benchmarks/README.md, session 11).

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_glmm_setup.py [--repeats 5] [--fits]
        [--cases verbagg binary-1m]
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_glmm_setup.py --optima   # diff two commits

For each case prints the first call's CPU and elapsed seconds in the process (which loads
the compiled kernels and lazily imported modules, as a fit's does), then the median (and
least) of the next ``--repeats`` calls, of ``glmm_setup``
(design, response, the weighted cross-products' tables, the separation check up to
20,000 rows), of ``fitting_criterion`` (the conditioned columns' system, when any) and
of the first cold PIRLS solve at θ's start (nAGQ = 0's first evaluation, with the
factorization's analysis); with ``--fits``, the whole ``glmer`` fits (nagq = 0 and
Laplace), three times after a warm-up for VerbAgg, once for the 1M-row model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))


def _cases():
    import lmmpy

    def verbagg():
        return ("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
                lmmpy.datasets.load("VerbAgg"))

    def binary_1m():
        from simulated import BINARY_FORMULA, binary_crossed
        return BINARY_FORMULA, binary_crossed()

    return {"verbagg": verbagg, "binary-1m": binary_1m}


def timed(call, *args, **kwargs):
    start = (time.process_time(), time.perf_counter())
    out = call(*args, **kwargs)
    return out, time.process_time() - start[0], time.perf_counter() - start[1]


def show(label: str, times: list[tuple[float, float]]) -> None:
    cpu, wall = zip(*times, strict=True)
    print(f"  {label:<34s} median {statistics.median(cpu):7.4f} s CPU "
          f"({statistics.median(wall):7.4f} s), least {min(cpu):7.4f} s CPU", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", nargs="*", default=["verbagg", "binary-1m"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fits", action="store_true")
    parser.add_argument("--optima", action="store_true",
                        help="print -2 logLik, θ and β to every bit (repr) of four models, "
                             "nagq 0 and 1, to compare commits; nothing else")
    args = parser.parse_args()
    if args.optima:
        _optima()
        return

    import lmmpy
    from lmmpy.glmm._conditioned import fitting_criterion
    from lmmpy.glmm._optimize import GlmmCriterion
    from lmmpy.glmm._pirls import pirls
    from lmmpy.glmm.fit import glmm_setup

    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"load average {os.getloadavg()}; lmmpy from {os.path.dirname(lmmpy.__file__)}",
          flush=True)
    for name in args.cases:
        formula, data = _cases()[name]()
        print(f"{name}: {len(data):,} rows", flush=True)
        setups, conditioned, cold = [], [], []
        for repeat in range(args.repeats + 1):
            system, cpu, wall = timed(glmm_setup, formula, data, "binomial")
            setups.append((cpu, wall))
            theta = system.design.theta_start()
            criterion = GlmmCriterion(system, len(theta), 0)
            (fitting, _), cpu, wall = timed(fitting_criterion, criterion)
            conditioned.append((cpu, wall))
            _, cpu, wall = timed(pirls, fitting.system, theta, None, None, vary_beta=True)
            cold.append((cpu, wall))
            del system, criterion, fitting
            if repeat == 0:   # the first in the process: kernels loaded, lazy imports
                show("first glmm_setup in the process", setups)
                show("first fitting_criterion", conditioned)
                show("first cold PIRLS (nAGQ = 0)", cold)
                setups, conditioned, cold = [], [], []
        show("glmm_setup", setups)
        show("fitting_criterion", conditioned)
        show("first cold PIRLS (nAGQ = 0)", cold)
        if args.fits:
            fits = 1 if name == "binary-1m" else 3
            for nagq in (0, 1):
                if name != "binary-1m":
                    lmmpy.glmer(formula, data, "binomial", nagq=nagq)   # warm-up
                times = []
                for _ in range(fits):
                    model, cpu, wall = timed(lmmpy.glmer, formula, data, "binomial", nagq=nagq)
                    times.append((cpu, wall))
                show(f"glmer nagq={nagq} (-2 logLik {-2 * model.loglik:.6f})", times)
    print(f"load average {os.getloadavg()}", flush=True)


def _optima() -> None:
    import warnings

    from simulated import binary_crossed

    import lmmpy

    warnings.simplefilter("ignore")
    slopes = binary_crossed(5000, 100, 20)
    slopes["x2"] = slopes["x"] * 0.5 + 3   # a correlated slope on an uncentred column
    cases = [
        ("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
         lmmpy.datasets.load("VerbAgg")),
        ("cbind(incidence, size - incidence) ~ period + (1 | herd)", lmmpy.datasets.load("cbpp")),
        ("y ~ x + (1 | subject) + (1 | item)", binary_crossed(20000, 400, 50)),
        ("y ~ x + (x2 | subject) + (1 | item)", slopes),
    ]
    for formula, data in cases:
        for nagq in (0, 1):
            model = lmmpy.glmer(formula, data, "binomial", nagq=nagq)
            print(formula, nagq, repr(-2 * model.loglik), [repr(v) for v in model.theta],
                  [repr(v) for v in model.state.beta], flush=True)


if __name__ == "__main__":
    main()
