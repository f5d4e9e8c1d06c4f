"""Issue 3's speed targets in one command: one table, each case in a fresh process.

    .venv/bin/python benchmarks/run_all.py [--cases insteval sleepstudy ...] [--lme4] [--load]

``--load`` runs a CPU-bound process beside each case (and lme4): a busy machine.

Cases (lmmpy time: median of 5 runs, 3 for the 1M and the crossed-100k models):

* ``insteval``: ``lmer("y ~ 1 + service + (1|s) + (1|d) + (1|dept:service)", ML)``,
  the whole call after loading the data; lme4's time from the reference case, or
  with ``--lme4`` lme4's median on the same data in this run (a shared machine's
  load then weighs on both sides).
* ``sleepstudy``: the whole ``lmer("Reaction ~ Days + (Days|Subject)")`` call (lme4 as
  for ``insteval``), and
  ``sleepstudy-fit``: the fit once the design is built (cross-products,
  objective, optimizer, fitted model); median of 25.
* ``sim-1m``: the simulated 1,000,000-row ``y ~ x1 + x2 + (1 + x1 | g1) + (1 | g2)``
  (ML, 20,000 × 500 crossed levels, ``benchmarks/simulated.py``); lme4's time
  from ``--lme4`` (R and lme4 timed on the same data in this run) or else the
  one recorded in ``benchmarks/lme4_times.json``.
* ``slope-200k``: ``y ~ x1 + x2 + (1 + x1 | g1)`` on 200,000 simulated rows (10,000
  levels of g1; ML; median of 5): the issue's comparison with mixedlm (a Rust core),
  which takes 1/7 of lme4's time on such a model; lme4 from ``--lme4`` or
  ``benchmarks/lme4_times.json``.
* ``crossed-100k``: ``y ~ x1 + x2 + (1 | g1) + (1 | g2)`` with 4,000 × 3,000 crossed
  levels on 100,000 rows (ML; median of 3): a Schur complement past 2,500 that is dense
  anyway, so still factored densely (CHOLMOD took three times as long); no target of
  issue 3, compared with lme4 as for ``sim-1m``.
* ``ratings-1m``, ``ratings-2m``: issue 14's users × items ratings
  (``benchmarks/ratings.py``: 60,000 users × 8,000 items on 1,000,000 rows, 200,000 ×
  20,000 on 2,000,000; users rate 5–100 items, item popularity ∝ 1/(rank + 100)^0.9),
  ``y ~ 1 + (1 | user) + (1 | item)`` (ML; one run each): targets 1/10 of lme4's time
  (recorded in ``benchmarks/lme4_times.json`` or ``--lme4``) and under 60 s.
* ``ratings-2m-stochastic``: the 2M model with ``LmerControl(factorization="stochastic")``
  (approximate: log|A| by stochastic Lanczos quadrature; docs "How a fit is computed").
* ``eval-n=1e4`` … ``1e6``: one evaluation of the profiled deviance for the
  same random-effects structure (500 × 20 fully crossed cells) at growing n.
* ``import``: ``import lmmpy`` (``python -X importtime``), target < 0.5 s.

Issue 12's GLMM cases (lmmpy time: the ``glmer`` call after loading the data and
importing ``lmmpy.glmm``, and after one untimed fit — the process's first fit also imports
numba and loads the compiled kernels from their cache, ~1 s once per process, as
``library(lme4)`` comes before lme4's timed fits; elapsed and CPU are medians of the timed
fits):

* ``verbagg``: ``glmer("r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item)",
  VerbAgg, binomial)`` (Laplace; median of 11: a fit of 0.1-0.3 s varies by a third from
  run to run on a shared machine) against lme4's ``glmer`` (``--lme4``: timed on the
  same data in this run, median of 3 after one unrecorded fit; else
  ``lme4_times.json``), target ratio ≤ 0.1; ``verbagg-nagq0`` the same with
  ``nagq=0``, against lme4's ``nAGQ = 0``;
* ``binary-1m``: ``y ~ x + (1 | subject) + (1 | item)`` on 1,000,000 simulated binary
  rows, 20,000 × 2,000 crossed levels (``simulated.binary_crossed``, fixed seed),
  Laplace, against lme4 (one fit each), target ratio ≤ 0.1 and < 2 GB;
  ``binary-1m-nagq0`` with ``nagq=0``; the untimed fit is of the same model on 20,000
  rows.

Below the table, for each pair: how many times faster ``nagq=0`` is than Laplace
(target ≥ 3) and the relative difference of their −2 log-likelihoods (target
≤ 0.1 %).  After their timed fits the ``-nagq0`` cases time Laplace and ``nagq=0`` fits
alternately (11 pairs on VerbAgg, 2 on the 1M rows) and give the median of the pairs'
ratios: the machine's speed drifts by a third within a minute here, which the separate
runs' ratio takes in full and alternating fits share.  The pairs also come after the
process's first fit of the data: on the 1M rows that first fit pays ~3 s of first-touch
memory that later fits reuse (nAGQ = 0: 11.5 s, then 8.2-8.5 s for the third and fourth
fit in one process), and each separate run pays it once.

Peak memory is the child process's maximum resident set size
(``resource.getrusage``), data generation included.  BLAS matters: CHOLMOD and
numpy's LAPACK calls should run on OpenBLAS (``libopenblas0-pthread`` on
Debian), not the reference BLAS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE.parent / "tests" / "data" / "cases"
LME4_TIMES = HERE / "lme4_times.json"
CASES = ["insteval", "sleepstudy", "sleepstudy-fit", "sim-1m", "slope-200k", "crossed-100k",
         "ratings-1m", "ratings-2m", "ratings-2m-stochastic",
         "eval-n=1e4", "eval-n=1e5", "eval-n=1e6", "import",
         "verbagg", "verbagg-nagq0", "binary-1m", "binary-1m-nagq0"]
GLMM_PAIRS = [("verbagg", "verbagg-nagq0"), ("binary-1m", "binary-1m-nagq0")]
SINGLE_RUN = ("ratings-1m", "ratings-2m", "ratings-2m-stochastic")   # minutes: one run
THREE_RUNS = ("sim-1m", "crossed-100k")


def _quiet_lmer(formula, data, **kwargs):
    import lmmpy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        return lmmpy.lmer(formula, data, **kwargs)


def _median_time(function, repeats, cpu=None):
    """The median elapsed time of ``repeats`` calls and the last result; ``cpu`` (a list)
    receives the median process CPU time of the same calls."""
    seconds, cpu_seconds, result = [], [], None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - start_cpu)
    if cpu is not None:
        cpu.append(statistics.median(cpu_seconds))
    return statistics.median(seconds), result


def _case_json(name):
    return json.loads((CASES_DIR / f"{name}.json").read_text())


def run_insteval(repeats, args):
    import lmmpy

    case = _case_json("insteval_ml")
    data = lmmpy.datasets.load("InstEval")
    cpu = []
    seconds, model = _median_time(lambda: _quiet_lmer(case["formula"], data, reml=False),
                                  repeats, cpu)
    lme4, lme4_cpu = (_lme4_on(data, case["formula"], reml=False, repeats=repeats,
                               with_cpu=True) if args.lme4 else (case["lme4_time_s"], None))
    return dict(seconds=seconds, lme4=lme4, lme4_cpu=lme4_cpu, target=0.1, cpu_seconds=cpu[0],
                evaluations=model.optimization.n_evaluations, path=model.objective.path)


def run_sleepstudy(repeats, args):
    import lmmpy

    case = _case_json("sleepstudy_slope_reml")
    data = lmmpy.datasets.load("sleepstudy")
    _quiet_lmer(case["formula"], data)
    seconds, model = _median_time(lambda: _quiet_lmer(case["formula"], data), 5 * repeats)
    lme4 = (_lme4_on(data, case["formula"], reml=True, repeats=5 * repeats) if args.lme4
            else case["lme4_time_s"])
    return dict(seconds=seconds, lme4=lme4, target=1.0,
                evaluations=model.optimization.n_evaluations, path=model.objective.path)


def run_sleepstudy_fit(repeats, _args):
    import lmmpy
    from lmmpy.design import build_design
    from lmmpy.formula import parse_formula

    case = _case_json("sleepstudy_slope_reml")
    design = build_design(parse_formula(case["formula"]), lmmpy.datasets.load("sleepstudy"))
    _fit_design(design)
    seconds, model = _median_time(lambda: _fit_design(design), 5 * repeats)
    return dict(seconds=seconds, lme4=None, target_seconds=0.005,
                evaluations=model.optimization.n_evaluations, path=model.objective.path)


def _fit_design(design, reml=True):
    """lmer after build_design: cross-products, objective, optimizer, fitted model."""
    from lmmpy.objective import ProfiledDeviance, cross_products
    from lmmpy.optimize import minimize_deviance
    from lmmpy.results import LinearMixedModel

    objective = ProfiledDeviance(cross_products(design), design.terms, reml=reml)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = minimize_deviance(objective, design.theta_start(), design.theta_lower_bounds())
    return LinearMixedModel(design=design, objective=objective, optimization=summary,
                            solution=objective.solve(summary.theta), reml=reml,
                            data_name=None)


def run_sim_1m(repeats, args):
    from simulated import FORMULA, crossed

    data = crossed(1_000_000)
    seconds, model = _median_time(lambda: _quiet_lmer(FORMULA, data, reml=False), repeats)
    lme4 = _lme4_on(data, FORMULA) if args.lme4 else _recorded_lme4("sim-1m")
    return dict(seconds=seconds, lme4=lme4, target=0.1,
                evaluations=model.optimization.n_evaluations, path=model.objective.path,
                deviance=model.deviance)


SLOPE_FORMULA = "y ~ x1 + x2 + (1 + x1 | g1)"


def run_slope_200k(repeats, args):
    """A 200,000-row random-slope model (10,000 levels of g1): the issue's comparison with
    mixedlm, which fits such a model in 1/7 of lme4's time."""
    from simulated import crossed

    data = crossed(200_000, 10_000, 500)
    seconds, model = _median_time(lambda: _quiet_lmer(SLOPE_FORMULA, data, reml=False), repeats)
    lme4 = (_lme4_on(data, SLOPE_FORMULA, repeats=repeats) if args.lme4
            else _recorded_lme4("slope-200k"))
    return dict(seconds=seconds, lme4=lme4, target=0.14,
                evaluations=model.optimization.n_evaluations, path=model.objective.path)


CROSSED_FORMULA = "y ~ x1 + x2 + (1 | g1) + (1 | g2)"


def run_crossed_100k(repeats, args):
    """Two large crossed factors (4,000 × 3,000 levels, 100,000 rows): the Schur
    complement on g2 (3,000 levels) is past the blocked path's 2,500 but dense, so it is
    still factored densely rather than by CHOLMOD."""
    from simulated import crossed

    data = crossed(100_000, 4_000, 3_000)
    cpu = []
    seconds, model = _median_time(lambda: _quiet_lmer(CROSSED_FORMULA, data, reml=False),
                                  repeats, cpu)
    lme4, lme4_cpu = (_lme4_on(data, CROSSED_FORMULA, repeats=repeats, with_cpu=True)
                      if args.lme4 else (_recorded_lme4("crossed-100k"), None))
    return dict(seconds=seconds, lme4=lme4, lme4_cpu=lme4_cpu, target=1.0, cpu_seconds=cpu[0],
                evaluations=model.optimization.n_evaluations, path=model.objective.path)


def run_ratings(n, n_users, n_items, name, factorization="auto", **target):
    """Issue 14's users × items ratings, ``y ~ 1 + (1 | user) + (1 | item)`` (ML): the item
    block of the factor fills in (CHOLMOD's path, its dense tail the items);
    ``factorization="stochastic"``: the approximate opt-in fit."""
    def run(repeats, args):
        from ratings import FORMULA, ratings

        import lmmpy

        data = ratings(n, n_users, n_items)
        control = lmmpy.LmerControl(factorization=factorization)
        cpu = time.process_time()
        seconds, model = _median_time(
            lambda: _quiet_lmer(FORMULA, data, reml=False, control=control), repeats)
        cpu = (time.process_time() - cpu) / repeats   # a loaded machine's fairer measure
        lme4 = (_lme4_on(data, FORMULA, repeats=repeats) if args.lme4
                else _recorded_lme4(name))
        lme4_cpu = None if args.lme4 else _recorded_lme4(name, "cpu_seconds")
        return dict(seconds=seconds, lme4=lme4, lme4_cpu=lme4_cpu, **target,
                    evaluations=model.optimization.n_evaluations, path=model.objective.path,
                    deviance=model.deviance, cpu_seconds=cpu)
    return run


def run_evaluation(n):
    def run(repeats, _args):
        import numpy as np
        from simulated import FORMULA, crossed

        from lmmpy.design import build_design
        from lmmpy.formula import parse_formula
        from lmmpy.objective import ProfiledDeviance, cross_products

        design = build_design(parse_formula(FORMULA), crossed(n, 500, 20, layout="cells"))
        objective = ProfiledDeviance(cross_products(design), design.terms, reml=False)
        # a new θ every time: the objective keeps the factors of the last two θ it saw
        thetas = iter(np.array([0.8, 0.1, 0.3, 0.5]) * (1 + 1e-3 * i)
                      for i in range(20 * repeats + 1))
        objective(next(thetas))
        seconds, _ = _median_time(lambda: objective(next(thetas)), 20 * repeats)
        return dict(seconds=seconds, lme4=None, evaluations=None, path=objective.path)
    return run


def run_import(repeats, _args):
    command = [sys.executable, "-X", "importtime", "-c", "import lmmpy"]
    seconds = []
    for _ in range(repeats + 1):
        stderr = subprocess.run(command, capture_output=True, text=True, check=True).stderr
        top = [line for line in stderr.splitlines() if line.rstrip().endswith("| lmmpy")]
        seconds.append(int(top[-1].split("|")[1]) / 1e6)
    return dict(seconds=statistics.median(seconds[1:]), lme4=None, target_seconds=0.5,
                evaluations=None, path="")


VERBAGG_FORMULA = "r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item)"


def _quiet_glmer(formula, data, nagq):
    import lmmpy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        return lmmpy.glmer(formula, data, "binomial", nagq=nagq)


def run_glmer_case(data_of, formula, nagq, lme4_case, repeats_cap=None, warm_up_data=None,
                   paired_with=None, pairs=None):
    def run(repeats, args):
        import lmmpy.glmm.fit  # noqa: F401  (the import is not the fit's time)

        data = data_of()
        # numba's import and the kernels' cache loads, once per process (~1 s): an untimed
        # fit first, on the data itself or on a small data set of the same model
        _quiet_glmer(formula, data if warm_up_data is None else warm_up_data(), nagq)
        repeats = min(repeats, repeats_cap or repeats)
        cpu = []
        seconds, model = _median_time(lambda: _quiet_glmer(formula, data, nagq), repeats, cpu)
        lme4, lme4_cpu = (_lme4_glmer_on(data, formula, nagq, repeats=min(repeats, 3))
                          if args.lme4 else
                          (_recorded_lme4(lme4_case), _recorded_lme4(lme4_case, "cpu")))
        result = dict(seconds=seconds, cpu_seconds=cpu[0], lme4=lme4, lme4_cpu=lme4_cpu,
                      target=0.1, evaluations=model.optimization.n_evaluations,
                      path=model.system.objective_at(None).path,
                      minus_2_loglik=-2 * model.loglik)
        if paired_with is not None:   # then both fits alternately, in the same process
            ratios = []
            for _ in range(pairs or repeats):
                other = _median_time(lambda: _quiet_glmer(formula, data, paired_with), 1)[0]
                ratios.append(other / _median_time(lambda: _quiet_glmer(formula, data, nagq),
                                                   1)[0])
            result["paired_ratio"], result["paired_count"] = statistics.median(ratios), len(ratios)
        return result
    return run


def _verbagg():
    import lmmpy

    return lmmpy.datasets.load("VerbAgg")


def _binary_1m():
    from simulated import binary_crossed

    return binary_crossed()


def _binary_small():
    from simulated import binary_crossed

    return binary_crossed(20_000, 2_000, 200)


RUNNERS = {
    "insteval": run_insteval, "sleepstudy": run_sleepstudy,
    "sleepstudy-fit": run_sleepstudy_fit, "sim-1m": run_sim_1m, "slope-200k": run_slope_200k,
    "crossed-100k": run_crossed_100k,
    "ratings-1m": run_ratings(1_000_000, 60_000, 8_000, "ratings-1m", target=0.1),
    "ratings-2m": run_ratings(2_000_000, 200_000, 20_000, "ratings-2m", target_seconds=60.0),
    "ratings-2m-stochastic": run_ratings(2_000_000, 200_000, 20_000, "ratings-2m",
                                         "stochastic", target_seconds=60.0),
    "eval-n=1e4": run_evaluation(10_000), "eval-n=1e5": run_evaluation(100_000),
    "eval-n=1e6": run_evaluation(1_000_000), "import": run_import,
    "verbagg": run_glmer_case(_verbagg, VERBAGG_FORMULA, 1, "verbagg"),
    "verbagg-nagq0": run_glmer_case(_verbagg, VERBAGG_FORMULA, 0, "verbagg-nagq0",
                                    paired_with=1),
    "binary-1m": run_glmer_case(_binary_1m, "y ~ x + (1 | subject) + (1 | item)", 1, "binary-1m",
                                repeats_cap=1, warm_up_data=_binary_small),
    "binary-1m-nagq0": run_glmer_case(_binary_1m, "y ~ x + (1 | subject) + (1 | item)", 0,
                                      "binary-1m-nagq0", repeats_cap=1,
                                      warm_up_data=_binary_small, paired_with=1, pairs=2),
}


def _recorded_lme4(case, field="seconds"):
    if not LME4_TIMES.exists():
        return None
    return json.loads(LME4_TIMES.read_text()).get(case, {}).get(field)


def _lme4_on(data, formula, reml=False, repeats=1, with_cpu=False):
    """lme4's lmer time on the same data, run by Rscript (elapsed seconds; the median of
    ``repeats`` fits after one unrecorded fit when ``repeats`` > 1); None without R.
    ``with_cpu``: (elapsed, CPU = user + system), each a median."""
    from pandas.api.types import is_numeric_dtype

    factors = [name for name in data.columns if not is_numeric_dtype(data[name])]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.csv"
        data.to_csv(path, index=False)
        fit = f"lmer({formula}, d, REML = {'TRUE' if reml else 'FALSE'})"
        code = (f'suppressMessages(library(lme4)); d <- read.csv("{path}"); '
                f'for (v in c({", ".join(repr(name) for name in factors)})) '
                f'd[[v]] <- factor(d[[v]]); '
                + (f"invisible({fit}); " if repeats > 1 else "")
                + f'times <- replicate({repeats}, system.time({fit})); '
                + 'cat(median(times["elapsed", ]), '
                + 'median(times["user.self", ] + times["sys.self", ]), "\\n")')
        try:
            out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True,
                                 check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return (None, None) if with_cpu else None
    elapsed, cpu = (float(x) for x in out.split()[:2])
    return (elapsed, cpu) if with_cpu else elapsed


def _lme4_glmer_on(data, formula, nagq, repeats=1):
    """lme4's binomial glmer time (elapsed seconds) on the same data, by Rscript, as
    :func:`_lme4_on` (the levels of small factors in the data's order), and its CPU time
    (user + system); None, None without R."""
    from pandas.api.types import is_numeric_dtype

    factors = [name for name in data.columns if not is_numeric_dtype(data[name])]
    with tempfile.TemporaryDirectory() as folder:
        path, script = Path(folder) / "data.csv", Path(folder) / "fit.R"
        data.to_csv(path, index=False)
        fit = f"glmer({formula}, d, binomial, nAGQ = {nagq})"
        levels = "".join(
            f'd[["{v}"]] <- factor(d[["{v}"]], levels = c({_r_strings(data[v])}))\n'
            if data[v].nunique() <= 100 else f'd[["{v}"]] <- factor(d[["{v}"]])\n'
            for v in factors)
        script.write_text(
            f'suppressMessages(library(lme4))\nd <- read.csv("{path}")\n{levels}'
            + (f"invisible({fit})\n" if repeats > 1 else "")
            + f"times <- replicate({repeats}, system.time({fit}))\n"
            + 'cat(median(times["elapsed", ]), '
              'median(times["user.self", ] + times["sys.self", ]), "\\n")\n')
        try:
            out = subprocess.run(["Rscript", str(script)], capture_output=True, text=True,
                                 check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return None, None
    elapsed, cpu = out.split()[:2]
    return float(elapsed), float(cpu)


def _r_strings(column):
    """The column's levels (a categorical's order) as an R character vector's body."""
    levels = column.cat.categories if hasattr(column, "cat") else sorted(column.unique())
    return ", ".join(f'"{level}"' for level in levels)


def child(name, repeats, args):
    sys.path.insert(0, str(HERE))
    result = RUNNERS[name](repeats, args)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_case(name, repeats, args):
    command = [sys.executable, __file__, "--child", name, "--repeats", str(repeats)]
    command += ["--lme4"] if args.lme4 else []
    with CompetingLoad(args.load):
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


class CompetingLoad:
    """``count`` CPU-bound processes (a Python busy loop each) while the block runs: a
    machine that is busy with something else, as a user's often is."""

    def __init__(self, count):
        self.count = count
        self.processes = []

    def __enter__(self):
        self.processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                          for _ in range(self.count)]
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            process.kill()
            process.wait()


def format_row(name, r):
    lme4 = r.get("lme4")
    ratio = f"{r['seconds'] / lme4:.3f}" if lme4 else "—"
    if "target" in r:
        target = f"ratio ≤ {r['target']:g}"
    elif "target_seconds" in r:
        target = (f"< {r['target_seconds']:g} s" if r["target_seconds"] >= 1
                  else f"< {r['target_seconds'] * 1e3:g} ms")
    else:
        target = "flat in n"
    cpu = _seconds(r["cpu_seconds"]) if "cpu_seconds" in r else "—"
    return (name, _seconds(r["seconds"]), cpu, _seconds(lme4) if lme4 else "—", ratio, target,
            f"{r['peak_mb']:.0f}", str(r["evaluations"] or "—"), r.get("path", ""))


def _seconds(value):
    return f"{value * 1e3:.2f} ms" if value < 0.1 else f"{value:.3f} s"


def format_table(rows):
    header = ("case", "lmmpy", "cpu", "lme4", "ratio", "target", "peak MB", "evals", "path")
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
                     for row in rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="*", choices=CASES, default=CASES)
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per case (median); default 5, 3 for sim-1m and "
                             "crossed-100k, 1 for the ratings")
    parser.add_argument("--lme4", action="store_true",
                        help="time lme4 on the simulated data in this run (needs R + lme4)")
    parser.add_argument("--load", type=int, nargs="?", const=1, default=0, metavar="N",
                        help="run N CPU-bound processes (default 1) beside each case, lme4 "
                             "included (a busy machine)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.repeats, args)
    rows, results = [], {}
    for name in args.cases:
        repeats = args.repeats or (1 if name in SINGLE_RUN else 11 if name.startswith("verbagg")
                                   else 3 if name in THREE_RUNS or name.startswith("binary")
                                   else 5)
        results[name] = run_case(name, repeats, args)
        rows.append(format_row(name, results[name]))
        print(f"  {name} done", file=sys.stderr, flush=True)
    print(_machine(args.load))
    print(format_table(rows))
    for line in glmm_comparisons(results):
        print(line)
    for name, r in results.items():
        if r.get("lme4_cpu"):
            print(f"{name}: CPU time {r['cpu_seconds']:.2f} s against lme4's {r['lme4_cpu']:.2f} s "
                  f"(ratio {r['cpu_seconds'] / r['lme4_cpu']:.3f})")


def glmm_comparisons(results):
    """nagq=0 against Laplace for each GLMM pair that ran: speed-up and deviance gap."""
    for laplace, fast in GLMM_PAIRS:
        if laplace in results and fast in results:
            a, b = results[laplace], results[fast]
            gap = abs(b["minus_2_loglik"] - a["minus_2_loglik"]) / abs(a["minus_2_loglik"])
            paired = (f"{b['paired_ratio']:.1f}x faster than Laplace in alternating fits "
                      f"(median of {b['paired_count']}; target >= 3), in separate runs "
                      if "paired_ratio" in b else "")
            yield (f"{fast}: {paired}{a['seconds'] / b['seconds']:.1f}x faster than Laplace "
                   f"(CPU {a['cpu_seconds']:.2f} s against {b['cpu_seconds']:.2f} s: "
                   f"{a['cpu_seconds'] / b['cpu_seconds']:.1f}x), "
                   f"-2 logLik {b['minus_2_loglik']:.3f} against {a['minus_2_loglik']:.3f} "
                   f"({100 * gap:.4f} %, target <= 0.1 %)")


def _machine(competing=0):
    load = os.getloadavg()
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; nproc {os.cpu_count()}; "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
            + (f"; {competing} competing CPU-bound process(es)" if competing else ""))


if __name__ == "__main__":
    main()
