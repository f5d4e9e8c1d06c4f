"""Time the InstEval ML fit, lmmpy against lme4.

    y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)    (ML, 73,421 ratings)

Times the whole ``lmmpy.lmer`` call (median of ``--repeats`` fits, after loading the
data) and compares it with lme4's time recorded in
``tests/data/cases/insteval_ml.json`` (``lme4_time_s``): the ratio is below 1 when
lmmpy is faster. Also shows the objective evaluations of both optimizers and the
log-likelihood difference to lme4's (positive: lmmpy found a higher optimum).

    python benchmarks/bench_insteval.py [--repeats 3]
"""

from __future__ import annotations

import argparse

from bench_reference_cases import format_table, load_case, time_case


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed fits (median)")
    args = parser.parse_args(argv)
    case = load_case("insteval_ml")
    timing = time_case(case, args.repeats)
    print(f"{case['formula']}  (ML, n = {case['n_obs']}; median of {args.repeats} fits)\n")
    print(format_table([timing]))


if __name__ == "__main__":
    main()
