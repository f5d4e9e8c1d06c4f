"""The written interface of the three factorizations (dense, blocked, CHOLMOD).

Each computes, for θ, the Cholesky factor of the augmented matrix
``[ZΛ X y]'W[ZΛ X y] + diag(I_q, 0)`` (Bates et al. 2015, eq. 18) as the pair
(log|L|², R) the profiled deviance reads, solves with A = Λ'Z'WZΛ + I at the
last θ, and can be reused for other cross-products (a new response, or new
weights: a GLMM's reweighting, which may keep the analysed sparsity pattern
and nothing else).  :class:`Factorization` is that contract; what only some
of them can do is declared in :class:`Capabilities`, which callers read
instead of probing for methods:

* ``gradient``: ``"augmented"`` (the dense path differentiates the
  log-determinants of the whole augmented factor: ``augmented_gradient``),
  ``"trace_terms"`` (the entries of A⁻¹Λ'Z'WZ at Λ's pattern: ``trace_terms``,
  the rest in :mod:`lmmpy.objective._gradient`) or None (no analytic gradient);
* ``hessian``: ``augmented_hessian`` gives the analytic gradient and Hessian;
* ``snapshots``: ``snapshot``/``restore`` return to an earlier θ's state for
  free (each update allocates anew), so the objective keeps the last two;
* ``exact``: log|L|² and the solves are exact (False: the stochastic
  factorization, whose log|A| is an estimate — what needs an exact factor or the
  exact deviance's derivatives refuses it through :func:`require_exact`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from lmmpy.objective._crossprod import CrossProducts
from lmmpy.objective._lambda import ThetaLayout

GradientKind = Literal["augmented", "trace_terms"]


@dataclass(frozen=True)
class Capabilities:
    """What a factorization offers beyond :class:`Factorization` (module docstring).

    Examples
    --------
    >>> Capabilities(gradient="trace_terms", snapshots=True).hessian
    False
    """

    gradient: GradientKind | None = None
    hessian: bool = False
    snapshots: bool = False
    exact: bool = True

    def __post_init__(self):
        if self.gradient not in (None, "augmented", "trace_terms"):
            raise ValueError(f"gradient must be None, 'augmented' or 'trace_terms', "
                             f"not {self.gradient!r}")
        if self.hessian and self.gradient != "augmented":
            raise ValueError("a factorization with a Hessian has the augmented gradient")


@runtime_checkable
class Factorization(Protocol):
    """θ → (log|L|², R) on one factorization of the augmented matrix.

    ``update(θ)`` refactors (``numpy.linalg.LinAlgError`` when not positive
    definite) and returns log|L|² and the (p+1)×(p+1) upper-triangular R
    (R_X, c_β and r; its upper triangle is valid); ``solve_A`` and ``logdet``
    then refer to that θ.  ``with_crossprods`` is the factorization for other
    cross-products of the same design: it may keep what depends on Z's pattern
    only, never a number of the old cross-products (unless they are the same
    object).  ``Lambda(θ)`` is Λ_θ (q×q, sparse or dense).
    """

    name: str
    layout: ThetaLayout
    crossprods: CrossProducts
    capabilities: Capabilities

    def update(self, theta: np.ndarray) -> tuple[float, np.ndarray]: ...

    def solve_A(self, B: np.ndarray | sp.spmatrix) -> np.ndarray: ...

    def logdet(self) -> float: ...

    def Lambda(self, theta: np.ndarray) -> np.ndarray | sp.spmatrix: ...

    def with_crossprods(self, crossprods: CrossProducts) -> Factorization: ...


def require_exact(objective, what: str, instead: str = "") -> None:
    """A ValueError when ``objective``'s factorization is not exact (the stochastic one) and
    ``what`` needs an exact factor or the exact deviance's derivatives (``instead``: an
    alternative).

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> require_exact(m.objective, "profile")   # an exact fit: nothing to say
    """
    if not objective.factor.capabilities.exact:
        raise ValueError(
            f"{what} needs the exact factorization, and this model was fit with "
            "LmerControl(factorization='stochastic') (log|A| estimated, no exact factor)"
            f"{'; ' + instead if instead else ''}; refit exactly with "
            "control=lmmpy.LmerControl() where the exact factor fits in memory")
