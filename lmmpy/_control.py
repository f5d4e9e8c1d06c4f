"""How ``lmer`` and ``glmer`` fit: optimizer, factorization, tolerances and checks.

The equivalents of lme4's ``lmerControl`` and ``glmerControl``: frozen
dataclasses passed as ``control=``, checked when made (a ``ValueError``
naming the field).  The defaults are what a fit does without one.  This
module imports nothing heavy: ``import lmmpy`` exports both classes.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

OPTIMIZERS = ("auto", "newton", "bfgs", "bobyqa")
GLMM_OPTIMIZERS = ("auto", "bfgs", "bobyqa", "nelder_mead")
FACTORIZATIONS = ("auto", "dense", "blocked", "cholmod")
LMER_FACTORIZATIONS = (*FACTORIZATIONS, "stochastic")


@dataclass(frozen=True)
class LmerControl:
    """Options of :func:`lmmpy.lmer`'s fit (lme4's ``lmerControl``).

    Attributes
    ----------
    optimizer : {"auto", "newton", "bfgs", "bobyqa"}
        ``"auto"`` takes the first the factorization supports: projected Newton
        with the analytic Hessian (the dense factorization), projected BFGS with
        the analytic gradient (dense, blocked), else BOBYQA (NLopt), lme4's
        default.  Asking for a method the factorization cannot give is an error.
    factorization : {"auto", "dense", "blocked", "cholmod", "stochastic"}
        The factorization of the penalized least-squares system (see "How a fit
        is computed"): ``"auto"`` takes dense up to q + p + 1 = 128, else the
        blocked one where it applies, else CHOLMOD.  ``"stochastic"`` is never
        chosen by itself: an approximate fit for crossed designs whose exact
        factor does not fit in memory (log|A| estimated by stochastic Lanczos
        quadrature, solves by conjugate gradients; BOBYQA, as it has no
        gradient).  The model's ``logdet_standard_error`` and summary say so,
        and what needs an exact factor (conditional variances, Satterthwaite,
        Kenward-Roger, profiles) refuses it: see "An approximate fit for very
        large crossed designs" in "How a fit is computed".
    xtol_abs, ftol_abs, xtol_rel : float
        BOBYQA's stopping tolerances (lme4's ``nloptwrap`` defaults).
    max_evaluations : int
        Most objective evaluations of BOBYQA (lme4's ``maxfun``).
    check_convergence : bool
        Run lme4's convergence checks (gradient and Hessian at θ̂) and warn
        when they fail (lme4's ``check.conv.*``).
    check_singular : bool
        Warn on a singular fit (lme4's ``check.conv.singular``).

    Examples
    --------
    >>> import lmmpy
    >>> control = lmmpy.LmerControl(optimizer="bobyqa", factorization="cholmod")
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)",
    ...                lmmpy.datasets.load("sleepstudy"), control=control)
    >>> m.optimization.optimizer, m.objective.path, round(m.reml_criterion, 2)
    ('bobyqa (NLopt)', 'cholmod', 1743.63)
    """

    optimizer: str = "auto"
    factorization: str = "auto"
    xtol_abs: float = 1e-8
    ftol_abs: float = 1e-8
    xtol_rel: float = 1e-4
    max_evaluations: int = 100_000
    check_convergence: bool = True
    check_singular: bool = True

    def __post_init__(self):
        _check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        _check_choice(self.factorization, "factorization", LMER_FACTORIZATIONS)
        if self.factorization == "stochastic" and self.optimizer not in ("auto", "bobyqa"):
            raise ValueError(f"optimizer={self.optimizer!r} needs derivatives, which "
                             "factorization='stochastic' does not have; use 'auto' or 'bobyqa'")
        for name in ("xtol_abs", "ftol_abs", "xtol_rel"):
            _check_tolerance(getattr(self, name), name)
        _check_count(self.max_evaluations, "max_evaluations")
        _check_flag(self.check_convergence, "check_convergence")
        _check_flag(self.check_singular, "check_singular")

    @property
    def path(self) -> str | None:
        """The factorization as ``ProfiledDeviance`` takes it (None: its own choice)."""
        return None if self.factorization == "auto" else self.factorization


@dataclass(frozen=True)
class GlmerControl:
    """Options of :func:`lmmpy.glmer`'s fit (lme4's ``glmerControl``).

    Attributes
    ----------
    optimizer : {"auto", "bfgs", "bobyqa", "nelder_mead"}
        ``"auto"`` (the default) and ``"bfgs"``: projected BFGS on the analytic
        gradient of the Laplace criterion in both stages (BOBYQA for the second
        stage of ``nagq > 1``, which has no gradient); or a derivative-free method
        (NLopt) for both: BOBYQA (lme4's first stage) or Nelder–Mead (lme4's
        default second stage).
    factorization : {"auto", "dense", "blocked", "cholmod"}
        The factorization PIRLS reweights (as :class:`LmerControl`).
    ftol_abs, xtol_rel : float
        BOBYQA's and Nelder–Mead's stopping tolerances on the criterion (absolute)
        and the parameters (relative).
    max_evaluations : int
        Most criterion evaluations per stage (lme4's ``maxfun``).
    pirls_tolerance : float
        PIRLS stops when its last step changed u (and β) by less than this,
        relative to max(1, max |u|) (in the optimizer's evaluations, for a
        canonical link, also when Newton's quadratic bound on the error left is
        below a hundredth of it).
    nagq0_init : bool
        Start the (θ, β) optimisation from an nAGQ = 0 fit (lme4's
        ``nAGQ0initStep``); False starts it from θ = lme4's start and the β of
        PIRLS there.
    check_singular : bool
        Warn on a singular fit.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 lmmpy.datasets.load("cbpp"), "binomial",
    ...                 control=lmmpy.GlmerControl(factorization="cholmod"))
    >>> round(m.loglik, 2)
    -92.03
    """

    optimizer: str = "auto"
    factorization: str = "auto"
    ftol_abs: float = 1e-11
    xtol_rel: float = 1e-9
    max_evaluations: int = 100_000
    pirls_tolerance: float = 1e-10
    nagq0_init: bool = True
    check_singular: bool = True

    def __post_init__(self):
        _check_choice(self.optimizer, "optimizer", GLMM_OPTIMIZERS)
        if self.factorization == "stochastic":
            raise ValueError("factorization='stochastic' is for lmer only: PIRLS needs exact "
                             "solves and log-determinants; use 'auto', 'dense', 'blocked' "
                             "or 'cholmod'")
        _check_choice(self.factorization, "factorization", FACTORIZATIONS)
        for name in ("ftol_abs", "xtol_rel", "pirls_tolerance"):
            _check_tolerance(getattr(self, name), name)
        _check_count(self.max_evaluations, "max_evaluations")
        _check_flag(self.nagq0_init, "nagq0_init")
        _check_flag(self.check_singular, "check_singular")

    @property
    def path(self) -> str | None:
        """The factorization as ``ProfiledDeviance`` takes it (None: its own choice)."""
        return None if self.factorization == "auto" else self.factorization


def check_control(control, kind: type, function: str):
    """``control`` itself, or ``kind()`` for None; a TypeError for anything else."""
    if control is None:
        return kind()
    if not isinstance(control, kind):
        raise TypeError(f"control of {function}() must be an lmmpy.{kind.__name__}, "
                        f"not {type(control).__name__}")
    return control


def _check_choice(value, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")


def _check_tolerance(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number of 0 or more, not {value!r}")


def _check_count(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


def _check_flag(value, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
