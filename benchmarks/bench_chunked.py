"""Fits from chunks (issue 15): a large synthetic Parquet set, fitted row group by row
group on this machine and on a 2-worker Dask LocalCluster, against the in-memory fit.

    y = 1 + 0.5 x + b1[g1] + c1[g1] x + b2[g2] + e,   y ~ x + (x | g1) + (1 | g2)  (ML)

with g1 × g2 crossed (``--levels``, the issue's 100,000 × 10,000 by default), x and e
standard normal, seed fixed (``--seed``): the same data on every machine.

    python benchmarks/bench_chunked.py write  --rows 20000000 --folder /tmp/lmmpy-chunked
    /usr/bin/time -v python benchmarks/bench_chunked.py parquet --folder /tmp/lmmpy-chunked
    /usr/bin/time -v python benchmarks/bench_chunked.py dask    --folder /tmp/lmmpy-chunked
    /usr/bin/time -v python benchmarks/bench_chunked.py memory  --folder /tmp/lmmpy-chunked \
        --rows 1000000
    python benchmarks/bench_chunked.py phases --folder /tmp/lmmpy-chunked --evaluations 3 \
        --gradients 1

``write`` makes the data one file of ``--file-rows`` rows at a time (row groups of
``--row-group`` rows), so it never holds more than a file.  The fits print one JSON line:
wall time of ``lmmpy.lmer`` (the data's reading included), the time per 10⁶ rows, θ, β,
the log-likelihood and the peak resident memory of the whole process tree (this process
and the cluster's workers, sampled every 0.1 s; ``/usr/bin/time -v`` sees only the
driver's).  ``memory`` reads the first ``--rows`` rows into pandas and fits them in
memory: the in-memory time per 10⁶ rows the chunked fits are held to.  ``phases`` runs the
stages of a Parquet fit one by one (schema pass, products pass, the whole design, the
objective's set-up, ``--evaluations`` evaluations of the deviance, ``--gradients`` with its
gradient) and prints each one's
CPU time, wall time and peak resident memory (sampled every 10 ms): the measured basis
of the cost model (docs/scale.md) without the whole optimizer run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import threading
import time
import warnings
from pathlib import Path

import numpy as np

FORMULA = "y ~ x + (x | g1) + (1 | g2)"


def write(folder: Path, rows: int, levels: tuple[int, int], seed: int, file_rows: int,
          row_group: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n1, n2 = levels
    b1, c1 = rng.normal(scale=0.8, size=n1), rng.normal(scale=0.3, size=n1)
    b2 = rng.normal(scale=0.5, size=n2)
    folder.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, rows, file_rows)):
        n = min(file_rows, rows - start)
        g1 = rng.integers(n1, size=n, dtype=np.int32)
        g2 = rng.integers(n2, size=n, dtype=np.int32)
        x = rng.normal(size=n)
        y = 1 + 0.5 * x + b1[g1] + c1[g1] * x + b2[g2] + rng.normal(size=n)
        table = pa.table({"y": y, "x": x, "g1": g1, "g2": g2})
        pq.write_table(table, folder / f"part-{i:04d}.parquet", row_group_size=row_group)
    print(json.dumps({"wrote": str(folder), "rows": rows, "levels": levels, "seed": seed}))


class PeakMemory:
    """Peak resident memory of this process and its descendants (the cluster's workers)."""

    def __init__(self, interval: float = 0.1):
        import psutil

        self.process, self.interval, self.peak = psutil.Process(), interval, 0
        self.peaks: dict[int, int] = {}   # each process's own peak (the driver, each worker)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for process in [self.process, *self.process.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):   # a process gone meanwhile
                    rss = process.memory_info().rss
                    total += rss
                    self.peaks[process.pid] = max(self.peaks.get(process.pid, 0), rss)
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def fit(mode: str, folder: Path, rows: int | None) -> dict:
    import lmmpy

    files = sorted(str(p) for p in folder.glob("*.parquet"))
    with PeakMemory() as memory:
        if mode == "dask":
            import dask.dataframe as dd
            from distributed import Client, LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None, silence_logs=50) as cluster, \
                    Client(cluster):
                start = time.perf_counter()
                model = _lmer(lmmpy, dd.read_parquet(files))
                seconds = time.perf_counter() - start
        elif mode == "parquet":
            start = time.perf_counter()
            model = _lmer(lmmpy, str(folder))
            seconds = time.perf_counter() - start
        else:
            import pandas as pd
            import pyarrow.parquet as pq

            frames, have = [], 0
            for path in files:
                if rows is not None and have >= rows:
                    break
                frames.append(pq.read_table(path).to_pandas())
                have += len(frames[-1])
            data = pd.concat(frames, ignore_index=True)
            data = data.iloc[:rows] if rows is not None else data
            start = time.perf_counter()
            model = _lmer(lmmpy, data)
            seconds = time.perf_counter() - start
    return {"mode": mode, "rows": model.nobs, "seconds": round(seconds, 2),
            "seconds_per_1e6_rows": round(seconds / model.nobs * 1e6, 3),
            "peak_tree_MB": round(memory.peak / 2**20),
            "peak_by_process_MB": sorted((round(v / 2**20) for v in memory.peaks.values()),
                                         reverse=True)[:4],
            "sum_of_peaks_MB": round(sum(memory.peaks.values()) / 2**20),
            "cpu_s": round(time.process_time(), 1), "load_average": os.getloadavg(),
            "theta": model.theta.round(6).tolist(),
            "beta": model.fixef.round(6).tolist(), "loglik": round(model.loglik, 4),
            "evaluations": model.optimization.n_evaluations, "path": model.objective.path}


class StagePeak:
    """Peak resident memory of this process, reset at each stage (sampled every 10 ms)."""

    def __init__(self):
        import psutil

        self.process, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(0.01)

    def stage(self, name: str, function, figures: dict):
        self.peak = self.process.memory_info().rss
        cpu, wall = time.process_time(), time.perf_counter()
        result = function()
        figures[name] = {"cpu_s": round(time.process_time() - cpu, 2),
                         "wall_s": round(time.perf_counter() - wall, 2),
                         "peak_MB": round(max(self.peak, self.process.memory_info().rss) / 2**20),
                         "after_MB": round(self.process.memory_info().rss / 2**20)}
        return result


def phases(folder: Path, evaluations: int, gradients: int = 0) -> dict:
    """The stages of :func:`lmmpy.chunked._fit.lmer_chunked`, timed one by one."""
    import functools

    from lmmpy.chunked._design import ChunkDesigner, chunk_plan
    from lmmpy.chunked._fit import first_design, learn_schema, whole_design
    from lmmpy.chunked._pass import chunk_products, combine, combine_in_place
    from lmmpy.chunked._sources import source_of
    from lmmpy.formula import parse_formula
    from lmmpy.objective import ProfiledDeviance

    figures: dict = {"mode": "phases", "folder": str(folder)}
    stages = StagePeak()
    parsed, source = parse_formula(FORMULA), source_of(str(folder))
    schema = stages.stage("schema", lambda: learn_schema(parsed, source, None, None), figures)
    designer = ChunkDesigner.of(parsed, schema, None, None)
    prototype = first_design(source, designer)
    plan = chunk_plan(prototype)
    reduce = functools.partial(source.reduce, functools.partial(
        chunk_products, designer=designer, plan=plan), combine, list(schema.columns.all),
        add_in_place=combine_in_place)
    products, moments = stages.stage("products", reduce, figures)
    design, crossprods = stages.stage("whole_design", functools.partial(
        whole_design, prototype, plan, schema, products, moments, None), figures)
    del products
    objective = stages.stage("objective_setup", functools.partial(
        ProfiledDeviance, crossprods, design.terms, reml=False), figures)
    theta = design.theta_start()
    for i in range(evaluations):
        stages.stage(f"evaluation_{i}", functools.partial(objective, theta * (1 + 0.01 * i)),
                     figures)
    for i in range(gradients):
        stages.stage(f"value_and_gradient_{i}", functools.partial(
            objective.value_and_gradient, theta * (1.005 + 0.01 * i)), figures)
    product = crossprods.ZtZ_product   # its own count: .ZtZ would make the compressed columns
    figures.update(rows=schema.n_kept, ZtZ_nnz=int(product.nnz), path=objective.path,
                   load_average=os.getloadavg())
    return figures


def report_evaluations() -> None:
    """Print a line to stderr after each evaluation of the objective (elapsed and CPU
    seconds since the start, resident memory of this process and the load average): a
    long fit's progress, and its per-evaluation cost if it is stopped."""
    import sys

    import psutil

    from lmmpy.objective import ProfiledDeviance

    process, start, cpu = psutil.Process(), time.perf_counter(), time.process_time()

    def wrapped(method):
        def evaluate(self, theta, *args, **kwargs):
            result = method(self, theta, *args, **kwargs)
            value = result[0] if isinstance(result, tuple) else result
            print(json.dumps({"evaluation": method.__name__, "elapsed_s": round(
                time.perf_counter() - start, 1), "cpu_s": round(time.process_time() - cpu, 1),
                "rss_MB": round(process.memory_info().rss / 2**20), "value": value,
                "theta": np.round(np.asarray(theta, float), 6).tolist(),
                "load": os.getloadavg()[0]}), file=sys.stderr, flush=True)
            return result
        return evaluate

    ProfiledDeviance.__call__ = wrapped(ProfiledDeviance.__call__)
    ProfiledDeviance.value_and_gradient = wrapped(ProfiledDeviance.value_and_gradient)


def _lmer(lmmpy, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        return lmmpy.lmer(FORMULA, data, reml=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["write", "parquet", "dask", "memory", "phases"])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/lmmpy-chunked"))
    parser.add_argument("--rows", type=int, default=None,
                        help="rows to write (default 100,000,000) or to fit in memory")
    parser.add_argument("--levels", type=int, nargs=2, default=(100_000, 10_000))
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--file-rows", type=int, default=10_000_000)
    parser.add_argument("--row-group", type=int, default=1_000_000)
    parser.add_argument("--evaluations", type=int, default=3,
                        help="evaluations of the deviance timed by 'phases'")
    parser.add_argument("--gradients", type=int, default=0,
                        help="evaluations with the gradient timed by 'phases' (after those)")
    parser.add_argument("--progress", action="store_true",
                        help="print each evaluation's time, CPU time and memory to stderr")
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if args.progress:
        report_evaluations()
    if args.mode == "write":
        write(args.folder, args.rows or 100_000_000, tuple(args.levels), args.seed,
              args.file_rows, args.row_group)
    elif args.mode == "phases":
        print(json.dumps(phases(args.folder, args.evaluations, args.gradients)))
    else:
        print(json.dumps(fit(args.mode, args.folder, args.rows)))


if __name__ == "__main__":
    main()
