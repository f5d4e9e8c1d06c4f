"""Parametric bootstrap of a linear mixed model (lme4's ``bootMer``) and its intervals.

Each replicate simulates a response from the fitted model (new random effects
by default, see :mod:`lmmpy.inference._simulate`), refits the model to it
with :meth:`LinearMixedModel.refit` — same design, cross-products of X and Z
and analysed sparse factor reused, only y's products recomputed — and records
``func`` of the refit.  The statistic on the original fit is ``t0``.

Reproducibility: replicate i draws from its own Generator seeded by the i-th
child of ``SeedSequence(seed).spawn(nsim)``, so results are identical bit for
bit for a given seed whatever ``n_jobs`` is.  With ``n_jobs > 1`` replicates
run in forked worker processes (POSIX ``fork``; elsewhere they run serially).

Intervals (Davison & Hinkley 1997, section 5.2-5.3; as ``boot::boot.ci``,
which lme4's ``confint(method = "boot")`` calls), from the R finite replicates
t*_(1) ≤ … ≤ t*_(R) of a statistic with estimate t0, at level 1 − 2α:

* percentile: t*_((R+1)α) and t*_((R+1)(1−α)), interpolated between order
  statistics on the normal-quantile scale when (R+1)α is not an integer
  (Davison & Hinkley eq. 5.8);
* basic: 2 t0 − t*_((R+1)(1−α)) and 2 t0 − t*_((R+1)α);
* normal: t0 − b ∓ z_{1−α} s, with bias b = mean(t*) − t0 and s the SD of t*.

References
----------
Davison, A. C. & Hinkley, D. V. (1997). Bootstrap Methods and their
Application. Cambridge University Press.
Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). J. Stat. Softw. 67(1).
"""

from __future__ import annotations

import html
import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import norm

from lmmpy._progress import progress_bar
from lmmpy._threads import blas_threads, single_blas_thread
from lmmpy._warnings import BootstrapWarning, ConvergenceWarning, SingularFitWarning
from lmmpy.inference._simulate import SeedLike, check_nsim
from lmmpy.inference._varpar import (
    model_sdcor,
    parameter_names,
    sdcor_from_theta,
    term_shapes,
    variance_parameter_names,
)

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

BOOT_TYPES = ("perc", "basic", "norm")
Statistic = Callable[["LinearMixedModel"], "pd.Series | np.ndarray | float"]


@dataclass(frozen=True, repr=False)
class BootstrapResult:
    """Replicates of a statistic from a parametric bootstrap (lme4's ``bootMer`` object).

    Attributes
    ----------
    t0 : Series, the statistic on the original fit
    replicates : DataFrame, nsim × statistics (NaN rows for failed refits)
    seed : the SeedSequence entropy (pass it as ``seed`` to reproduce the run)
    use_u : whether the simulations kept the estimated random effects
    n_failed : refits that raised an error
    n_singular, n_convergence : refits that were singular / gave convergence warnings
    """

    t0: pd.Series
    replicates: pd.DataFrame
    seed: int
    use_u: bool
    n_failed: int
    n_singular: int
    n_convergence: int

    @property
    def nsim(self) -> int:
        return len(self.replicates)

    @property
    def bias(self) -> pd.Series:
        """mean(t*) − t0."""
        return self.replicates.mean() - self.t0

    @property
    def std_error(self) -> pd.Series:
        """Bootstrap standard errors: the SD of the finite replicates."""
        return self.replicates.std(ddof=1)

    def summary(self) -> pd.DataFrame:
        """``original``, ``bias``, ``std_error`` of each statistic (R's ``print(bootMer)``)."""
        return pd.DataFrame({"original": self.t0, "bias": self.bias,
                             "std_error": self.std_error})

    def __repr__(self) -> str:
        """A few lines, as R prints a ``boot`` object (the replicates stay in
        ``replicates``: printing thousands of rows helps nobody)."""
        failures = (f"{self.n_failed} failed, {self.n_singular} singular, "
                    f"{self.n_convergence} with convergence warnings")
        return (f"Parametric bootstrap: {self.nsim} replicates "
                f"({'conditional on' if self.use_u else 'new draws of'} the random effects; "
                f"{failures}; seed {self.seed})\n{self.summary().to_string()}")

    def _repr_html_(self) -> str:
        head, _, _ = repr(self).partition("\n")
        return f"<p>{html.escape(head)}</p>" + self.summary().to_html(border=0)

    def confint(self, level: float = 0.95, boot_type: str = "perc") -> pd.DataFrame:
        """Bootstrap intervals (``lower``, ``upper``) of each statistic, as ``boot.ci``.

        Examples
        --------
        >>> import lmmpy
        >>> m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))
        >>> b = m.bootstrap(nsim=20, seed=1)
        >>> list(b.confint().columns)
        ['lower', 'upper']
        """
        check_level(level)
        check_boot_type(boot_type)
        rows = [_interval(self.replicates[name].to_numpy(), self.t0[name], level, boot_type)
                for name in self.t0.index]
        return pd.DataFrame(rows, index=self.t0.index, columns=["lower", "upper"])


def bootstrap(model: LinearMixedModel, nsim: int, func: Statistic | None = None,
              seed: SeedLike = None, n_jobs: int = 1, progress: bool | None = None,
              use_u: bool = False) -> BootstrapResult:
    """Parametric bootstrap: simulate from the fit, refit, apply ``func`` (lme4's ``bootMer``).

    Parameters
    ----------
    model : LinearMixedModel
    nsim : int
        Number of bootstrap replicates.
    func : callable, optional
        Statistic of a fitted model: a Series (its index names the statistics),
        an array or a number.  Default: the SDs and correlations of the random
        effects, σ and the fixed effects (the parameters of :meth:`confint`).
    seed : int or SeedSequence, optional
        Same seed, same replicates — bit for bit, whatever ``n_jobs``.
    n_jobs : int, default 1
        Worker processes (-1: one per CPU).
    progress : bool, optional
        Progress bar on stderr; default: when stderr is a terminal.
    use_u : bool, default False
        Simulate with the estimated random effects instead of new ones.

    Returns
    -------
    BootstrapResult

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))
    >>> b = bootstrap(m, nsim=10, seed=42)
    >>> b.replicates.shape
    (10, 3)
    """
    check_nsim(nsim)
    n_jobs = _check_n_jobs(n_jobs)
    if func is None and model.is_generalized:   # the parameters of the GLMM's confint
        func = ParameterStatistic(model)
    if func is None:
        func = _DefaultStatistic(model)
        t0 = func.t0
    else:
        t0 = _as_series(_check_func(func)(model), None)
    sequence = seed if isinstance(seed, np.random.SeedSequence) else _seed_sequence(seed)
    job = _Job(model, func, sequence.spawn(nsim), use_u, list(t0.index))
    bar = progress_bar(nsim, "bootstrap", progress)
    try:
        results = _run(job, n_jobs, bar)
    finally:
        bar.close()
    return _collect(results, t0, sequence, use_u)


class ParameterStatistic:
    """The parameters of ``confint`` of a GLMM fit (SDs and correlations times σ̂ for the
    families with a dispersion, as ``varcorr``; σ̂ for those; β̂), as a named Series."""

    def __init__(self, model):
        self.shapes = term_shapes(model.design.terms)
        self.names = parameter_names(model)
        self.dispersion = model.family.has_dispersion

    def __call__(self, model) -> pd.Series:
        sdcor = sdcor_from_theta(self.shapes, model.theta, model.sigma)
        variance = sdcor if self.dispersion else sdcor[:-1]
        return pd.Series(np.concatenate([variance, model.state.beta]), index=self.names)


def default_statistic(model: LinearMixedModel) -> pd.Series:
    """SDs, correlations, σ (lme4's ``oldNames = FALSE`` names) and the fixed effects."""
    names = variance_parameter_names(model.design.terms)
    values = np.concatenate([model_sdcor(model), model.solution.beta])
    return pd.Series(values, index=[*names, *model.fixef.index])


class _DefaultStatistic:
    """``default_statistic`` as an array, with the θ layout computed once (``t0`` named)."""

    def __init__(self, model: LinearMixedModel):
        self.shapes = term_shapes(model.design.terms)
        self.t0 = default_statistic(model)

    def __call__(self, model: LinearMixedModel) -> np.ndarray:
        s = model.solution
        return np.concatenate([sdcor_from_theta(self.shapes, s.theta, s.sigma), s.beta])


# ---- running replicates ----------------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    model: LinearMixedModel
    func: Statistic
    seeds: list[np.random.SeedSequence]
    use_u: bool
    names: list[str]


@dataclass(frozen=True)
class _Outcome:
    values: np.ndarray
    failed: bool = False
    singular: bool = False
    convergence: bool = False


_JOB: _Job | None = None  # the job forked workers inherit


def _replicate(job: _Job, i: int) -> _Outcome:
    y = job.model.simulate_response(np.random.default_rng(job.seeds[i]), job.use_u)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            statistic = job.func(job.model.refit(y))
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            return _Outcome(np.full(len(job.names), np.nan), failed=True)
    values = _as_series(statistic, job.names).to_numpy(dtype=float)
    kinds = {type(w.message) for w in caught}
    return _Outcome(values, singular=SingularFitWarning in kinds,
                    convergence=ConvergenceWarning in kinds)


def _replicate_forked(i: int) -> _Outcome:
    assert _JOB is not None
    return _replicate(_JOB, i)


def _run(job: _Job, n_jobs: int, progress) -> list[_Outcome]:
    nsim = len(job.seeds)
    if n_jobs == 1 or nsim == 1 or "fork" not in multiprocessing.get_all_start_methods():
        results = []
        with blas_threads(1):   # many small refits: see _run_forked
            for i in range(nsim):
                results.append(_replicate(job, i))
                progress.update(i + 1)
        return results
    return _run_forked(job, n_jobs, progress)


def _run_forked(job: _Job, n_jobs: int, progress) -> list[_Outcome]:
    """Replicates in ``n_jobs`` forked processes, each with one BLAS thread.

    A refit is a sequence of small dense factorizations: with OpenBLAS's default
    of one thread per core in every worker, two workers on two cores ran 4x
    slower than one process (sim_schools, 40 replicates: 49.9 s against 12.9 s on
    a loaded machine; 2.7 s with one thread each).  The parallelism is the
    processes'.
    """
    global _JOB
    _JOB = job
    try:
        context = multiprocessing.get_context("fork")
        chunk = max(1, len(job.seeds) // (8 * n_jobs))
        with ProcessPoolExecutor(n_jobs, mp_context=context,
                                 initializer=single_blas_thread) as pool:
            results = []
            for outcome in pool.map(_replicate_forked, range(len(job.seeds)), chunksize=chunk):
                results.append(outcome)
                progress.update(len(results))
    finally:
        _JOB = None
    return results


def _collect(results: list[_Outcome], t0: pd.Series, sequence: np.random.SeedSequence,
             use_u: bool) -> BootstrapResult:
    replicates = pd.DataFrame(np.array([r.values for r in results]), columns=t0.index)
    result = BootstrapResult(
        t0=t0, replicates=replicates, seed=sequence.entropy, use_u=use_u,
        n_failed=sum(r.failed for r in results), n_singular=sum(r.singular for r in results),
        n_convergence=sum(r.convergence for r in results))
    if result.n_failed or result.n_convergence:
        warnings.warn(f"{result.n_failed} of {result.nsim} bootstrap refits failed and "
                      f"{result.n_convergence} gave convergence warnings", BootstrapWarning,
                      stacklevel=user_stacklevel())
    return result


# ---- intervals -------------------------------------------------------------------------
def _interval(t: np.ndarray, t0: float, level: float, boot_type: str) -> tuple[float, float]:
    t = np.sort(t[np.isfinite(t)])
    if len(t) < 2:
        return np.nan, np.nan
    alpha = (1 - level) / 2
    if boot_type == "perc":
        return _order_statistic(t, alpha), _order_statistic(t, 1 - alpha)
    if boot_type == "basic":
        return 2 * t0 - _order_statistic(t, 1 - alpha), 2 * t0 - _order_statistic(t, alpha)
    center = 2 * t0 - t.mean()  # t0 − bias
    half = norm.ppf(1 - alpha) * t.std(ddof=1)
    return center - half, center + half


def _order_statistic(t: np.ndarray, a: float) -> float:
    """t*_((R+1)a), interpolated on the normal-quantile scale (Davison & Hinkley eq. 5.8)."""
    R = len(t)
    rank = (R + 1) * a
    k = int(np.floor(rank))
    if k == rank and 1 <= k <= R:
        return float(t[k - 1])
    if k <= 0:
        return float(t[0])
    if k >= R:
        return float(t[-1])
    weight = (norm.ppf(a) - norm.ppf(k / (R + 1))) / (norm.ppf((k + 1) / (R + 1))
                                                       - norm.ppf(k / (R + 1)))
    return float(t[k - 1] + weight * (t[k] - t[k - 1]))


# ---- checks and small helpers ----------------------------------------------------------
def check_level(level: float) -> None:
    if isinstance(level, bool) or not isinstance(level, int | float | np.floating):
        raise TypeError(f"level must be a number, not {type(level).__name__}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (exclusive), not {level}")


def check_boot_type(boot_type: str) -> None:
    if boot_type not in BOOT_TYPES:
        raise ValueError(f"boot_type must be one of {', '.join(BOOT_TYPES)}, not {boot_type!r}")


def _check_n_jobs(n_jobs: int) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer):
        raise TypeError(f"n_jobs must be an integer, not {type(n_jobs).__name__}")
    if n_jobs == -1:
        return os.cpu_count() or 1
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer or -1, not {n_jobs}")
    return int(n_jobs)


def _check_func(func) -> Statistic:
    if not callable(func):
        raise TypeError(f"func must be a callable taking a fitted model, not "
                        f"{type(func).__name__}")
    return func


def _seed_sequence(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.Generator):
        raise TypeError("seed must be an int or a SeedSequence for the bootstrap (replicate "
                        "seeds are spawned from it), not a Generator")
    return np.random.SeedSequence(seed)


def _as_series(value, names: list[str] | None) -> pd.Series:
    if isinstance(value, pd.Series):
        series = value.astype(float)
        if names is not None and list(series.index) != names and set(series.index) == set(names):
            series = series.reindex(names)  # same statistics in another order
    else:
        array = np.atleast_1d(np.asarray(value, dtype=float))
        if array.ndim != 1:
            raise ValueError(f"func must return a number or a 1-d array, not shape {array.shape}")
        series = pd.Series(array, index=[f"t{i + 1}" for i in range(len(array))])
    if names is not None and len(series) != len(names):
        raise ValueError(f"func returned {len(series)} values for a refit but "
                         f"{len(names)} for the original fit")
    return series


def user_stacklevel() -> int:
    """The ``stacklevel`` that attributes a warning to the first caller outside lmmpy.

    Call it in the function that calls ``warnings.warn``.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level
