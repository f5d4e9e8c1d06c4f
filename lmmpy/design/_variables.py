"""Which data columns a formula piece reads, resolved against the data first.

formulaic's ``required_variables`` leaves out every name that is also one of
its transforms (``center``, ``scale``, ``Treatment``, ``Sum``, ``poly``,
``C``, ``log``, ...), yet when it evaluates a factor it looks names up in the
data first.  A column called ``center`` or ``Treatment`` (a multi-centre
trial, nlme's RatPupWeight) is then in the model matrix but missing from
everything that asks formulaic which columns the model uses: the rows with
missing values, the ordered-factor contrasts, new data for predictions.

Here a name is resolved as R resolves a variable in a model formula:

* a bare name (formulaic's *lookup* factor, ``center`` or ```a b```) is a
  data column, whatever else it might name;
* inside an expression (``scale(center)``, ``C(Treatment, contr.poly)``) a
  name used as a value is a data column when the data has it, or when it is
  not one of formulaic's own names (then it is reported as missing); a name
  that is called (``scale``, ``C``) is a function.  formulaic would call a
  column of that name, so :func:`lmmpy.design._fixed.polynomial_contrast_formula`
  calls its functions by other names (``EVALUATION_CONTEXT``) where a column
  shadows one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import formulaic
from formulaic.transforms import TRANSFORMS
from formulaic.utils.variables import Variable, get_required_variables

# names formulaic evaluates besides the data and its own (design builds and rebuilds
# matrices with them): its functions under names no column has, for the calls a column
# of the function's name would shadow (formulaic looks names up in the data first)
EVALUATION_CONTEXT = {f"lmmpy_{name}": function for name, function in TRANSFORMS.items()}


@functools.lru_cache(maxsize=512)
def parsed_formula(text: str) -> formulaic.Formula:
    """formulaic's parse of ``text``, cached: a fit reads the same few pieces several times.

    Examples
    --------
    >>> parsed_formula("x + g") is parsed_formula("x + g")
    True
    """
    return formulaic.Formula(text)


def factor_columns(factor, columns: Iterable[str] = ()) -> set[str]:
    """The data columns one formulaic factor reads (module docstring for the rules).

    Examples
    --------
    >>> [sorted(factor_columns(f, ["center"])) for t in parsed_formula("scale(center) + C")
    ...  for f in t.factors]
    [[], ['center'], ['C']]
    """
    method = factor.eval_method.value
    if method == "lookup":
        return {factor.expr}
    if method != "python":
        return set()
    available = columns if isinstance(columns, set | frozenset) else set(columns)
    return {root for root in _value_roots(factor.expr)
            if root in available or (root not in TRANSFORMS and root not in EVALUATION_CONTEXT)}


@functools.lru_cache(maxsize=1024)
def _variables(expr: str) -> frozenset[Variable]:
    try:
        return frozenset(get_required_variables(expr))
    except Exception:   # malformed Python: formulaic reports it when it evaluates the factor
        return frozenset()


def _value_roots(expr: str) -> set[str]:
    return {str(v.root) for v in _variables(expr) if Variable.Role.VALUE in v.root.roles}


def formula_columns(text: str, columns: Iterable[str] = ()) -> set[str]:
    """The data columns a formula piece reads; ``columns`` are the data's.

    Examples
    --------
    >>> sorted(formula_columns("a + scale(b) + poly(c, 2):d", ["a", "b", "c", "d", "e"]))
    ['a', 'b', 'c', 'd']
    >>> sorted(formula_columns("Treatment + center:x + scale(log)", ["log"]))
    ['Treatment', 'center', 'log', 'x']
    """
    available = set(columns)
    return {name for term in parsed_formula(text) for factor in term.factors
            for name in factor_columns(factor, available)}


def plain_column(factor, columns: Iterable[str]) -> str | None:
    """The column a factor is, when it is just a column (``g``; not ``C(g)``, ``log(x)``).

    Examples
    --------
    >>> [plain_column(f, ["g"]) for t in parsed_formula("g + log(g)") for f in t.factors]
    [None, 'g', None]
    """
    if factor.eval_method.value == "lookup" and factor.expr in set(columns):
        return factor.expr
    return None


def shadowed_functions(text: str, columns: Iterable[str]) -> set[str]:
    """Functions a formula piece calls that are also data columns: formulaic would call
    the column (``log(log)``).

    Examples
    --------
    >>> sorted(shadowed_functions("log(log) + scale(x) + center", ["log", "x", "center"]))
    ['log']
    """
    return shadowed_calls(parsed_formula(text), columns)


def shadowed_calls(formula: formulaic.Formula, columns: Iterable[str]) -> set[str]:
    """:func:`shadowed_functions` of a parsed formula."""
    available = set(columns)
    return {str(v.root) for term in formula for factor in term.factors
            if factor.eval_method.value == "python"
            for v in _variables(factor.expr)
            if Variable.Role.CALLABLE in v.roles and "." not in v and v in available}
