"""The fitted-model interface that inference, diagnostics and reports work against.

:mod:`lmmpy.inference`, :mod:`lmmpy.diagnostics` and :mod:`lmmpy.report` take a
fitted model — a :class:`~lmmpy.LinearMixedModel` (also one fitted from chunks)
or a :class:`~lmmpy.GeneralizedLinearMixedModel` — and use it only through what
:class:`FittedModel` declares: estimates, likelihood, the design, and the
operations that need the concrete model (refits, reduced criteria, the
profiler), which each model class implements.  They never import the model
classes, so the model modules, whose convenience methods (``m.confint()``,
``m.icc()``, ``m.tidy()``) call into those packages, are not in an import cycle
with them (``python tools/import_cycles.py --lazy``; ``tests/test_import_cycles.py``).
Where the two kinds differ, a function asks ``model.is_generalized``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from lmmpy.design import Design


class FittedModel(Protocol):
    """What a fitted mixed model offers to inference, diagnostics and reports.

    Attributes
    ----------
    is_generalized : bool
        A GLMM (then ``family``, ``nagq``, ``system``, ``state`` and
        ``deviance_value`` are there too) or a linear mixed model (``reml``,
        ``objective``, ``solution``).
    design : Design
        The model's matrices after NA removal.
    control : LmerControl or GlmerControl
        How the model was fitted; every refit uses it.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))
    >>> is_fitted_model(m), m.is_generalized
    (True, False)
    """

    is_generalized: ClassVar[bool]
    design: Design
    data_name: str | None

    @property
    def formula(self) -> str: ...

    @property
    def theta(self) -> np.ndarray: ...

    @property
    def fixef(self) -> pd.Series: ...

    @property
    def fixef_se(self) -> pd.Series: ...

    @property
    def vcov(self) -> pd.DataFrame: ...

    @property
    def nobs(self) -> int: ...

    @property
    def n_params(self) -> int: ...

    @property
    def loglik(self) -> float: ...

    @property
    def sigma(self) -> float: ...

    @property
    def is_singular(self) -> bool: ...

    def refit(self, y) -> FittedModel:
        """The same model fitted to a new response, with the model's control."""

    def simulate_response(self, rng: np.random.Generator, use_u: bool = False) -> np.ndarray:
        """One response vector simulated from the fit."""

    def _restricted_criterion(self, fixed: np.ndarray) -> float:
        """The criterion minimized with the θ's in ``fixed`` held at zero (``ranova``)."""

    def _intercept_reduced_criterion(self, index: int) -> tuple[float, int]:
        """(criterion, number of θ's) with term ``index`` replaced by ``(1 | g)``."""


def is_fitted_model(value: object) -> bool:
    """Whether ``value`` is a fitted model (a class that declares ``is_generalized``).

    Examples
    --------
    >>> is_fitted_model("y ~ x + (1 | g)")
    False
    """
    return isinstance(getattr(type(value), "is_generalized", None), bool)
