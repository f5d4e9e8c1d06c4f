"""Simulate responses from a fitted linear mixed model (lme4's ``simulate.merMod``).

With the estimates β̂, θ̂, σ̂ (and the conditional modes b̂),

    unconditional (``use_u=False``, lme4's default ``re.form = NA``):
        y* = Xβ̂ + o + Z b* + ε*,   b* = σ̂ Λ_θ̂ u*,  u* ~ N(0, I_q)   (new random effects)
    conditional (``use_u=True``, lme4's ``use.u = TRUE`` / ``re.form = NULL``):
        y* = Xβ̂ + o + Z b̂ + ε*                                      (the estimated ones)

with ε*_i ~ N(0, σ̂²/w_i) independent (prior weights scale the residual
variance, as in lme4) and o the offset.  Draws come from a numpy Generator:
per replicate, first the u* of each random-effects term (levels × k standard
normals, in lme4's term order), then the n residuals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

SeedLike = int | np.random.SeedSequence | np.random.Generator | None


def simulate(model: LinearMixedModel, nsim: int = 1, seed: SeedLike = None,
             use_u: bool = False) -> pd.DataFrame:
    """Simulated responses, one column per simulation (``sim_1``, ``sim_2``, ...).

    Parameters
    ----------
    model : LinearMixedModel
    nsim : int, default 1
        Number of simulated response vectors.
    seed : int, SeedSequence or Generator, optional
        Seed of the numpy Generator; the same seed gives the same draws.
    use_u : bool, default False
        False: draw new random effects from N(0, Σ̂) (unconditional; lme4's default).
        True: keep the estimated conditional modes b̂ (lme4's ``use.u = TRUE``).

    Returns
    -------
    DataFrame
        n rows (indexed as the data rows used in the fit) by ``nsim`` columns.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> simulate(m, nsim=3, seed=1).shape
    (180, 3)
    """
    check_nsim(nsim)
    rng = np.random.default_rng(seed)
    columns = {f"sim_{i + 1}": simulate_response(model, rng, use_u) for i in range(nsim)}
    return pd.DataFrame(columns, index=model.design.row_index)


def simulate_response(model: LinearMixedModel, rng: np.random.Generator,
                      use_u: bool = False) -> np.ndarray:
    """One simulated response vector (see the module docstring for the draw order)."""
    design = model.design
    mean = design.X.values @ model.solution.beta + design.offset
    effects = model._term_values(model.solution.b) if use_u else _new_effects(model, rng)
    for term, values in zip(design.terms, effects, strict=True):
        mean += np.einsum("ij,ij->i", term.model_matrix.values, values[term.codes])
    scale = model.sigma if design.weights is None else model.sigma / np.sqrt(design.weights)
    return mean + scale * rng.standard_normal(design.n_obs)


def _new_effects(model: LinearMixedModel, rng: np.random.Generator) -> list[np.ndarray]:
    """b* = σ̂ T u* per level of each term, u* standard normal (levels × k)."""
    out = []
    for term in model.design.terms:
        T = term.template(model.theta[model._theta_slice(term)])
        u = rng.standard_normal((term.n_levels, term.n_columns))
        out.append(model.sigma * u @ T.T)
    return out


def check_nsim(nsim: int) -> None:
    if isinstance(nsim, bool) or not isinstance(nsim, int | np.integer):
        raise TypeError(f"nsim must be an integer, not {type(nsim).__name__}")
    if nsim < 1:
        raise ValueError(f"nsim must be at least 1, not {nsim}")
