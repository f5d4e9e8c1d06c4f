"""sleepstudy's fit and whole ``lmer`` call, this tree against an earlier commit.

    .venv/bin/python benchmarks/bench_against_commit.py 7cdbe06 [--rounds 4]

On a shared machine the same code's timings move by half from one minute to
the next, so a before/after comparison must interleave: the commit is checked
out once as a git worktree (under the system's temporary folder), and each
round runs one process on it and one on this tree, each timing 200 fits after
20 unrecorded ones.  Printed per round: minimum / median in ms of the fit (as
``run_all.py``'s ``sleepstudy-fit``) and of the whole call.
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


def _timed(tree: Path) -> str:
    environment = dict(os.environ, PYTHONPATH=str(tree))
    code = TIMING.format(benchmarks=str(HERE))
    return subprocess.run([sys.executable, "-c", code], env=environment, cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, check=True).stdout.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    worktree = Path(tempfile.gettempdir()) / f"lmmpy-{args.commit}"
    if not worktree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree),
                        args.commit], check=True, capture_output=True)
    print(f"{'round':6s}{args.commit + ' fit / lmer (ms)':>34s}{'this tree fit / lmer (ms)':>34s}")
    for round_ in range(1, args.rounds + 1):
        print(f"{round_:<6d}{_timed(worktree):>34s}{_timed(ROOT):>34s}", flush=True)


if __name__ == "__main__":
    main()
