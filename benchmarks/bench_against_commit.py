"""sleepstudy's fit and whole ``lmer`` call, this tree against an earlier commit.

    .venv/bin/python benchmarks/bench_against_commit.py 7cdbe06 [--rounds 4]
    .venv/bin/python benchmarks/bench_against_commit.py 7cdbe06 --case insteval [--fits 5]
    .venv/bin/python benchmarks/bench_against_commit.py 7cdbe06 --case crossed-100k

On a shared machine the same code's timings move by half from one minute to
the next, so a before/after comparison must interleave: the commit is checked
out once as a git worktree (under the system's temporary folder), and each
round runs one process on it and one on this tree, each timing 200 fits after
20 unrecorded ones.  Printed per round: minimum / median in ms of the fit (as
``run_all.py``'s ``sleepstudy-fit``) and of the whole call.

``--case insteval`` or ``crossed-100k`` (``run_all.py``'s models, ML): each process times
``--fits`` whole ``lmer`` calls after one unrecorded (compiled kernels load on first use)
and prints the median elapsed and CPU (process) seconds, and the one-minute load average
before it.  Run with ``OPENBLAS_NUM_THREADS=1``: on a shared machine the CPU time is
the steadier measure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

TIMING = """
import statistics, sys, time, warnings
sys.path.insert(0, {benchmarks!r})
import lmmpy
from run_all import _fit_design
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
warnings.simplefilter("ignore")
data = lmmpy.datasets.load("sleepstudy")
formula = "Reaction ~ Days + (Days | Subject)"
design = build_design(parse_formula(formula), data)
out = []
for run in (lambda: _fit_design(design), lambda: lmmpy.lmer(formula, data)):
    for _ in range(20):
        run()
    seconds = []
    for _ in range(200):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    out.append(f"{{1e3 * min(seconds):.2f}} / {{1e3 * statistics.median(seconds):.2f}}")
print("   ".join(out))
"""


LARGE = """
import os, statistics, sys, time, warnings
sys.path.insert(0, {benchmarks!r})
import lmmpy
warnings.simplefilter("ignore")
if {case!r} == "insteval":
    data = lmmpy.datasets.load("InstEval")
    formula = "y ~ 1 + service + (1|s) + (1|d) + (1|dept:service)"
else:
    from simulated import crossed
    data = crossed(100_000, 4_000, 3_000)
    formula = "y ~ x1 + x2 + (1 | g1) + (1 | g2)"
lmmpy.lmer(formula, data, reml=False)
load = os.getloadavg()[0]
seconds, cpu = [], []
for _ in range({fits}):
    start, start_cpu = time.perf_counter(), time.process_time()
    model = lmmpy.lmer(formula, data, reml=False)
    seconds.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
print(f"{{statistics.median(seconds):.3f}} / {{statistics.median(cpu):.3f}} "
      f"({{model.optimization.n_evaluations}}, load {{load:.1f}})")
"""


def _timed(tree: Path, case: str = "sleepstudy", fits: int = 5) -> str:
    environment = dict(os.environ, PYTHONPATH=str(tree))
    code = (TIMING.format(benchmarks=str(HERE)) if case == "sleepstudy"
            else LARGE.format(benchmarks=str(HERE), case=case, fits=fits))
    return subprocess.run([sys.executable, "-c", code], env=environment, cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, check=True).stdout.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--case", choices=["sleepstudy", "insteval", "crossed-100k"],
                        default="sleepstudy")
    parser.add_argument("--fits", type=int, default=5, help="timed fits a process (large cases)")
    args = parser.parse_args(argv)
    worktree = Path(tempfile.gettempdir()) / f"lmmpy-{args.commit}"
    if not worktree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree),
                        args.commit], check=True, capture_output=True)
    unit = ("fit / lmer (ms)" if args.case == "sleepstudy"
            else "elapsed / CPU (s) (evaluations, load)")
    width = 34 if args.case == "sleepstudy" else 44
    print(f"{'round':6s}{args.commit + ' ' + unit:>{width}s}{'this tree ' + unit:>{width}s}")
    for round_ in range(1, args.rounds + 1):
        before = _timed(worktree, args.case, args.fits)
        after = _timed(ROOT, args.case, args.fits)
        print(f"{round_:<6d}{before:>{width}s}{after:>{width}s}", flush=True)


if __name__ == "__main__":
    main()
