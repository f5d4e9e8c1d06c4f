"""Time lmmpy against lme4 on every LMM reference case in ``tests/data/cases``.

For each case (``kind`` "fit", ``family`` null) the whole ``lmmpy.lmer`` call is
timed ``--repeats`` times after the data are loaded; the table shows the median
(and the fastest and slowest fit: a wide range means a busy machine), lme4's time
from the case file (``lme4_time_s``, itself a median over fits), their ratio (below
1: lmmpy is faster), the objective evaluations of both optimizers, and the
log-likelihood difference to lme4's (positive: lmmpy found a higher optimum).

    python benchmarks/bench_reference_cases.py [--repeats 5] [--cases sleepstudy dyestuff]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import lmmpy

CASES_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "cases"


@dataclass(frozen=True)
class Timing:
    case: str
    seconds: float
    spread: tuple[float, float]
    lme4_seconds: float
    evaluations: int
    lme4_evaluations: int | None
    loglik_difference: float

    @property
    def ratio(self) -> float:
        return self.seconds / self.lme4_seconds


def lmm_cases(directory: Path = CASES_DIR) -> list[dict]:
    """The reference fits of linear mixed models (not GLMMs, not tests between fits)."""
    cases = [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]
    return [case for case in cases if case.get("kind") == "fit" and case.get("family") is None]


def load_case(name: str, directory: Path = CASES_DIR) -> dict:
    return json.loads((directory / f"{name}.json").read_text())


def time_case(case: dict, repeats: int) -> Timing:
    """Median wall time of ``repeats`` complete ``lmer`` calls on the case's data."""
    data = lmmpy.datasets.load(case["dataset"])
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        model = _fit(case, data)
        seconds.append(time.perf_counter() - start)
    return Timing(
        case=case["case"],
        seconds=statistics.median(seconds),
        spread=(min(seconds), max(seconds)),
        lme4_seconds=case["lme4_time_s"],
        evaluations=model.optimization.n_evaluations,
        lme4_evaluations=case.get("feval"),
        loglik_difference=model.loglik - case["loglik"],
    )


def _fit(case: dict, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        return lmmpy.lmer(case["formula"], data, reml=case["REML"],
                          weights=case.get("weights"), offset=case.get("offset"))


def format_table(timings: list[Timing]) -> str:
    header = ("case", "lmmpy s", "(min-max)", "lme4 s", "ratio", "evals", "lme4 evals",
              "Δ loglik")
    rows = [header] + [
        (t.case, f"{t.seconds:.3f}", f"({t.spread[0]:.3f}-{t.spread[1]:.3f})",
         f"{t.lme4_seconds:.3f}", f"{t.ratio:.2f}",
         str(t.evaluations), str(t.lme4_evaluations), f"{t.loglik_difference:+.2e}")
        for t in timings
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed fits per case (median)")
    parser.add_argument("--cases", nargs="*", metavar="NAME",
                        help="only cases whose name contains one of these")
    args = parser.parse_args(argv)
    cases = [case for case in lmm_cases()
             if not args.cases or any(part in case["case"] for part in args.cases)]
    timings = []
    for case in cases:
        timings.append(time_case(case, args.repeats))
        print(f"  {case['case']}: {timings[-1].seconds:.3f} s", file=sys.stderr, flush=True)
    print(f"\nmedian of {args.repeats} fits; lme4 {_lme4_version(cases)}\n")
    print(format_table(timings))


def _lme4_version(cases: list[dict]) -> str:
    software = cases[0].get("software", {}) if cases else {}
    return f"{software.get('lme4', '?')} (R {software.get('R', '?')})"


if __name__ == "__main__":
    main()
