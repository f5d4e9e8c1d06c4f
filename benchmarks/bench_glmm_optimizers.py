"""glmer's BFGS on the analytic gradient against BOBYQA on lme4's 38 simulated GLMM sets.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_glmm_optimizers.py

For each set of ``tests/glmm/test_glmm_unseen.py``: −2 logLik of ``optimizer="auto"``
minus that of ``"bobyqa"`` (negative: BFGS lower), the evaluations and CPU seconds of
each, and the largest relative difference of the fixed-effect SEs.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "glmm"))

import test_glmm_unseen as unseen

import lmmpy


def _fit(case, frame, optimizer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.process_time()
        model = lmmpy.glmer(case["formula"], frame, case["family"],
                            control=lmmpy.GlmerControl(optimizer=optimizer),
                            **unseen._options(case, frame))
        return model, time.process_time() - start


def main() -> None:
    totals = {"bobyqa": [0, 0.0], "auto": [0, 0.0]}
    for set_id in unseen.SETS:
        case = unseen._sets()[set_id]
        frame = unseen._frame(case)
        fits = {name: _fit(case, frame, name) for name in totals}
        for name, (model, seconds) in fits.items():
            totals[name][0] += model.optimization.n_evaluations
            totals[name][1] += seconds
        (old, old_s), (new, new_s) = fits["bobyqa"], fits["auto"]
        se = (np.max(np.abs(new.fixef_se.to_numpy() / old.fixef_se.to_numpy() - 1))
              if case["nagq"] != 0 else 0.0)
        print(f"{set_id:3d} nagq={case['nagq']} {case['family'][:8]:8s} {case['link']:8s} "
              f"diff {-2 * (new.loglik - old.loglik): .2e}  evals "
              f"{old.optimization.n_evaluations:4d} -> {new.optimization.n_evaluations:4d}  "
              f"cpu {old_s:.2f} -> {new_s:.2f}  SE {se:.1e}", flush=True)
    print({name: (count, round(seconds, 1)) for name, (count, seconds) in totals.items()})


if __name__ == "__main__":
    main()
