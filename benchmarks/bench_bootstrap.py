"""Time parametric-bootstrap refits against fresh ``lmer`` fits.

A bootstrap replicate simulates a response, refits the model with
``LinearMixedModel.refit`` (design, cross-products of X and Z and the set-up
factor reused; only y's products recomputed) and evaluates the statistic
(SDs, correlations, σ, β).  A fresh fit is the whole ``lmmpy.lmer`` call on a
data frame.  The table shows the median fresh fit, the mean time per bootstrap
replicate, and their ratio (below 1: a replicate is cheaper than a fit).

    python benchmarks/bench_bootstrap.py [--sleepstudy 1000] [--insteval 100] [--n-jobs 1]
    python benchmarks/bench_bootstrap.py --jobs 1,2 --schools 200 --rounds 3

Cases: sleepstudy ``Reaction ~ Days + (Days | Subject)`` (REML), InstEval
``y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)`` (ML, 73,421 rows),
and schools ``y ~ x + z + (x | school) + (1 | school:class)`` (REML, the bundled
sim_schools: 6,455 pupils, 40 schools; the size of issue 13's MathAchieve model).

``--jobs 1,2`` times the schools bootstrap with each worker count in turn,
``--rounds`` times over, interleaved so that a change in the machine's load hits
every count alike (issue 13: ``bootstrap(n_jobs=2)`` must not be slower than serial).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
import warnings

import lmmpy

CASES = {
    "sleepstudy": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", True),
    "insteval": ("y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)", "InstEval", False),
    "schools": ("y ~ x + z + (x | school) + (1 | school:class)", "sim_schools", True),
}


def time_fresh_fit(formula: str, data, reml: bool, repeats: int) -> tuple[float, object]:
    times, model = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        model = lmmpy.lmer(formula, data, reml=reml)
        times.append(time.perf_counter() - start)
    return statistics.median(times), model


def time_bootstrap(model, nsim: int, n_jobs: int) -> tuple[float, object]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.BootstrapWarning)
        result = model.bootstrap(nsim, seed=1, n_jobs=n_jobs, progress=False)
    return time.perf_counter() - start, result


def run_case(name: str, nsim: int, n_jobs: int, repeats: int) -> dict:
    formula, dataset, reml = CASES[name]
    data = lmmpy.datasets.load(dataset)
    fit_seconds, model = time_fresh_fit(formula, data, reml, repeats)
    boot_seconds, result = time_bootstrap(model, nsim, n_jobs)
    per_refit = boot_seconds / nsim
    return {"case": name, "n": model.nobs, "fit_s": fit_seconds, "nsim": nsim,
            "n_jobs": n_jobs, "boot_s": boot_seconds, "per_refit_s": per_refit,
            "ratio": per_refit / fit_seconds, "failed": result.n_failed,
            "singular": result.n_singular}


def format_table(rows: list[dict]) -> str:
    header = (f"{'case':<11}{'n':>7}{'fresh lmer':>12}{'replicates':>12}{'jobs':>6}"
              f"{'total':>10}{'per refit':>11}{'ratio':>7}{'failed':>8}{'singular':>9}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['case']:<11}{r['n']:>7}{r['fit_s'] * 1e3:>10.1f}ms{r['nsim']:>12}"
                     f"{r['n_jobs']:>6}{r['boot_s']:>9.2f}s{r['per_refit_s'] * 1e3:>9.1f}ms"
                     f"{r['ratio']:>7.2f}{r['failed']:>8}{r['singular']:>9}")
    return "\n".join(lines)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the pool's workers)."""
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def compare_jobs(case: str, nsim: int, jobs: list[int], rounds: int) -> None:
    """The bootstrap of ``case`` with each worker count, interleaved, ``rounds`` times.

    Wall time depends on the share of the CPUs the machine's other load leaves; the CPU
    time (all processes) says whether workers add work.
    """
    formula, dataset, reml = CASES[case]
    model = lmmpy.lmer(formula, lmmpy.datasets.load(dataset), reml=reml)
    times: dict[int, list[float]] = {n: [] for n in jobs}
    cpu: dict[int, list[float]] = {n: [] for n in jobs}
    for _ in range(rounds):
        for n_jobs in jobs:
            before = cpu_seconds()
            seconds, result = time_bootstrap(model, nsim, n_jobs)
            cpu[n_jobs].append(cpu_seconds() - before)
            times[n_jobs].append(seconds)
            assert result.n_failed == 0
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
          f"; {case}, {nsim} replicates, {rounds} interleaved rounds\n")
    print(f"{'n_jobs':>6}{'wall median':>13}{'min':>9}{'CPU median':>12}  wall, all (s)")
    for n_jobs, values in times.items():
        print(f"{n_jobs:>6}{statistics.median(values):>12.2f}s{min(values):>8.2f}s"
              f"{statistics.median(cpu[n_jobs]):>11.2f}s  " + " ".join(f"{v:.2f}" for v in values))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sleepstudy", type=int, default=1000, help="sleepstudy replicates")
    parser.add_argument("--insteval", type=int, default=100, help="InstEval replicates (0: skip)")
    parser.add_argument("--n-jobs", type=int, default=1, help="bootstrap worker processes")
    parser.add_argument("--repeats", type=int, default=5, help="fresh fits timed (median)")
    parser.add_argument("--jobs", help="compare worker counts on the schools case, e.g. 1,2")
    parser.add_argument("--schools", type=int, default=200, help="schools replicates (--jobs)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (--jobs)")
    args = parser.parse_args(argv)
    if args.jobs:
        compare_jobs("schools", args.schools, [int(n) for n in args.jobs.split(",")],
                     args.rounds)
        return
    rows = [run_case("sleepstudy", args.sleepstudy, args.n_jobs, args.repeats)]
    if args.insteval:
        rows.append(run_case("insteval", args.insteval, args.n_jobs, max(1, args.repeats // 2)))
    print(f"{os.cpu_count()} CPUs; fresh lmer = median whole lmmpy.lmer call; "
          "per refit = simulate + refit + statistic\n")
    print(format_table(rows))


if __name__ == "__main__":
    main()
