"""F tests of the fixed-effect terms: type 1, 2 and 3 ANOVA tables as lmerTest's ``anova``.

Each term gets a contrast matrix L (rows in the coefficient space) and the F
test of Lβ = 0 (:mod:`lmmpy.inference._contrast`, Satterthwaite or
Kenward–Roger denominator df).  The hypotheses are lmerTest's
(Kuznetsova, Brockhoff & Christensen 2017, section 4;
``get_contrasts_type1/type2/type3``):

* **type 1** (sequential): with X'X = L D L' (Doolittle; L unit lower
  triangular), the rows of L' belonging to the term — the term adjusted for
  the terms before it;
* **type 2**: a term contained in no other term is tested by its own
  coefficients (the marginal test); a contained term by the type-1 rows of X'X
  with the columns reordered as [unrelated terms, the term, the terms
  containing it] — adjusted for everything except its containers;
* **type 3**: SAS's hypotheses of the cell means, written for treatment
  contrasts and mapped to the model's coding (:mod:`._type3`).

Term A is contained in term B when B has every variable of A and more, and
both have the same numeric variables.  With at most one term (or one
coefficient) all three types are the type-1 test.  The intercept is not tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lmmpy.design._fixed import INTERCEPT, _rename
from lmmpy.inference._contrast import DDF_LABELS, F_COLUMNS, check_ddf, f_test

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

_DOOLITTLE_EPS = 1e-6
_TYPES = {1: "I", 2: "II", 3: "III"}


@dataclass(frozen=True)
class FixedTerm:
    """A term of the fixed-effects formula and its columns of X.

    Attributes
    ----------
    name : as lmerTest prints it (``recipe:temperature``, ``I(Days ** 2)``)
    columns : indices of its columns in X (aliased columns left out)
    factors : the formulaic factor expressions it multiplies
    numeric : the numeric ones among them
    """

    name: str
    columns: tuple[int, ...]
    factors: frozenset[str]
    numeric: frozenset[str]

    def is_contained_in(self, other: FixedTerm) -> bool:
        return (self.factors < other.factors) and self.numeric == other.numeric


def fixed_terms(model: LinearMixedModel) -> tuple[bool, list[FixedTerm]]:
    """Whether X has an intercept, and its other terms with their columns."""
    X = model.design.X
    position = {name: j for j, name in enumerate(X.names)}
    has_intercept, terms = False, []
    for structure in X.spec.structure:
        if str(structure.term) == "1":
            has_intercept = INTERCEPT in position
            continue
        columns = tuple(position[X.renames[c]] for c in structure.columns
                        if X.renames[c] in position)
        factors = frozenset(f.expr for f in structure.term.factors)
        terms.append(FixedTerm(_rename(str(structure.term)), columns, factors,
                               frozenset(f for f in factors if not _is_categorical(X.spec, f))))
    return has_intercept, terms


def _is_categorical(spec, factor: str) -> bool:
    kind = spec.encoder_state.get(factor, (None, None))[0]
    return kind is not None and kind.value == "categorical"


def containers(term: FixedTerm, terms: list[FixedTerm]) -> list[FixedTerm]:
    return [other for other in terms if term.is_contained_in(other)]


def doolittle_lower(A: np.ndarray) -> np.ndarray:
    """Unit lower-triangular L of A = L U (no pivoting), entries below 1e-6 set to 0.

    Examples
    --------
    >>> doolittle_lower(np.array([[4.0, 2.0], [2.0, 3.0]]))
    array([[1. , 0. ],
           [0.5, 1. ]])
    """
    n = A.shape[0]
    L, U = np.eye(n), np.zeros((n, n))
    for i in range(n):
        U[i, i:] = A[i, i:] - L[i, :i] @ U[:i, i:]
        if abs(U[i, i]) < _DOOLITTLE_EPS:
            continue
        L[i + 1:, i] = (A[i + 1:, i] - L[i + 1:, :i] @ U[:i, i]) / U[i, i]
    L[np.abs(L) < _DOOLITTLE_EPS] = 0.0
    return L


def fixed_gram(model: LinearMixedModel) -> np.ndarray:
    """X'X (unweighted): from the rows, or kept by a design fitted from chunks."""
    design = model.design
    if design.in_memory:
        X = design.X.values
        return X.T @ X
    return design.fixed_gram


def type1_contrasts(model: LinearMixedModel) -> dict[str, np.ndarray]:
    _, terms = fixed_terms(model)
    Lt = doolittle_lower(fixed_gram(model)).T
    return {term.name: Lt[list(term.columns)] for term in terms}


def type2_contrasts(model: LinearMixedModel) -> dict[str, np.ndarray]:
    G = fixed_gram(model)
    p = G.shape[1]
    _, terms = fixed_terms(model)
    out = {}
    for term in terms:
        above = containers(term, terms)
        if not above:
            out[term.name] = np.eye(p)[list(term.columns)]
            continue
        last = list(term.columns) + [j for t in above for j in t.columns]
        order = [j for j in range(p) if j not in last] + last
        Lt = doolittle_lower(G[np.ix_(order, order)]).T
        rows = Lt[[order.index(j) for j in term.columns]]
        out[term.name] = rows[:, np.argsort(order)]
    return out


def _check_type(type) -> int:
    roman = {"I": 1, "II": 2, "III": 3}
    value = roman.get(type, type) if isinstance(type, str) else type
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or value not in _TYPES:
        raise ValueError(f"anova type must be 1, 2 or 3, not {type!r}")
    return int(value)


def term_contrasts(model: LinearMixedModel, type: int) -> dict[str, np.ndarray]:
    """lmerTest's contrast matrix of every term for an ANOVA table of the given type."""
    type = _check_type(type)
    _, terms = fixed_terms(model)
    if type == 1 or len(terms) <= 1 or len(model.fixef) <= 1:
        return type1_contrasts(model)
    if type == 2:
        return type2_contrasts(model)
    from lmmpy.inference._type3 import type3_contrasts

    return type3_contrasts(model)


def anova_table(model: LinearMixedModel, type: int = 3, ddf: str = "satterthwaite"
                ) -> pd.DataFrame:
    """F tests of the fixed-effect terms, as lmerTest's ``anova(m, type, ddf)``.

    Parameters
    ----------
    model : LinearMixedModel
    type : {1, 2, 3}
        Sequential (1), each term adjusted for all terms that do not contain
        it (2), or SAS's type 3 marginal hypotheses (3, the default).
    ddf : {"satterthwaite", "kenward-roger", "residual", "asymptotic"}

    Returns
    -------
    DataFrame
        Indexed by term (formulaic's spelling, ``temperature`` for lmerTest's
        ``temperature``; ``I(Days ** 2)`` for ``I(Days^2)``): ``sum_sq, mean_sq,
        num_df, den_df, f_value, p_value``.  ``attrs["hypotheses"]`` holds
        each term's contrast matrix (lmerTest's ``show_tests``).

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)",
    ...                lmmpy.datasets.load("cake"))
    >>> m.anova()[["num_df", "den_df", "f_value"]].round(3)
                        num_df  den_df  f_value
    term
    recipe                   2    42.0    0.249
    temperature              5   210.0   20.520
    recipe:temperature      10   210.0    1.006
    """
    type = _check_type(type)
    ddf = check_ddf(ddf)
    contrasts = term_contrasts(model, type)
    rows = [f_test(model, L, ddf) for L in contrasts.values()]
    from lmmpy.inference._table import InferenceTable

    table = InferenceTable(rows, index=pd.Index(list(contrasts), name="term"),
                           columns=F_COLUMNS)
    table.attrs["heading"] = (f"Type {_TYPES[type]} Analysis of Variance Table "
                              f"with {DDF_LABELS[ddf]}")
    table.attrs["hypotheses"] = contrasts
    return table
