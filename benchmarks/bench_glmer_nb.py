"""glmer_nb: the joint search against lme4's alternating one, and against lme4's glmer.nb.

    .venv/bin/python benchmarks/bench_glmer_nb.py            # lme4 times from the reference
    .venv/bin/python benchmarks/bench_glmer_nb.py --lme4     # also time lme4::glmer.nb now

For epil and the simulated fits of tests/data/glmm/nb_cases.json: the median time of
``glmer_nb`` (method "joint", the default, and "alternating", lme4's profile over k
with a refit per k) over ``--repeats`` runs, its criterion evaluations (the Poisson
start and the Hessian's included in the time, the evaluations of the search only),
and lme4's glmer.nb time (``lme4_time_s`` recorded when the reference was made, or
timed now with ``--lme4``: median of 3 in one R process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import pandas as pd

import lmmpy

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "glmm"
CASES = [case for case in json.loads((DATA / "nb_cases.json").read_text()) if case["nAGQ"] == 1]

R_TIMING = """
suppressMessages(library(lme4))
d <- if ("{data}" == "epil") {{
  e <- read.csv("tests/data/extra_datasets/epil.csv"); e$subject <- factor(e$subject); e
}} else read.csv("tests/data/glmm/sim_nb.csv", stringsAsFactors = TRUE)
times <- replicate(3, system.time(glmer.nb({formula}, d))[["elapsed"]])
cat(median(times))
"""


def data(name: str) -> pd.DataFrame:
    if name == "epil":
        return lmmpy.datasets.load("epil")
    return pd.read_csv(DATA / "sim_nb.csv").astype({"g": "category", "h": "category",
                                                     "arm": "category"})


def time_lmmpy(case: dict, method: str, repeats: int) -> tuple[float, int, float]:
    frame, times = data(case["data"]), []
    for _ in range(repeats):
        start = time.perf_counter()
        model = lmmpy.glmer_nb(case["formula"], frame, method=method)
        times.append(time.perf_counter() - start)
    return statistics.median(times), model.nb_search.n_evaluations, model.loglik


def time_lme4(case: dict) -> float:
    script = R_TIMING.format(data=case["data"], formula=case["formula"])
    out = subprocess.run(["Rscript", "-e", script], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lme4", action="store_true", help="time lme4::glmer.nb now")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; nproc {os.cpu_count()}; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'case':<16}{'method':>12}{'lmmpy':>10}{'evals':>7}{'logLik':>14}{'lme4':>10}"
          f"{'ratio':>8}")
    for case in CASES:
        lme4 = time_lme4(case) if args.lme4 else case["lme4_time_s"]
        for method in ("joint", "alternating"):
            seconds, evaluations, loglik = time_lmmpy(case, method, args.repeats)
            print(f"{case['case']:<16}{method:>12}{seconds:>9.2f}s{evaluations:>7}"
                  f"{loglik:>14.6f}{lme4:>9.2f}s{seconds / lme4:>8.3f}")


if __name__ == "__main__":
    main()
