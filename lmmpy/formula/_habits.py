"""R formula habits that formulaic does not share, each refused with what to write instead.

lme4 formulas are R code; here the pieces of a formula are evaluated by
formulaic as Python.  R's ``factor(x)`` would otherwise fail as "column
'factor' is not in the data", ``{1 | g}`` deep inside formulaic, and R's
``.`` (all other columns) with formulaic's internals, so the parser looks
for them first and points at them.  A bar in braces, ``{x | g}``, is taken
for a misplaced random-effects term, though it is also Python's "or":
write Python's "or" of two columns as ``I(a | b)``.
"""

from __future__ import annotations

from collections.abc import Callable

from ._errors import FormulaError
from ._tokens import Token

# R function -> what to write instead, given the source text of its arguments.
_R_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "factor": lambda args: f"use C({args}) (formulaic's categorical)",
    "as.factor": lambda args: f"use C({args}) (formulaic's categorical)",
    "as.character": lambda args: f"use C({args}) to treat it as a factor",
    "ordered": lambda args: (
        "make the column an ordered pandas Categorical before fitting "
        "(pd.Categorical(values, categories=..., ordered=True)); it gets polynomial contrasts"),
    "as.numeric": lambda args: (
        "convert the column in pandas before fitting (e.g. pd.to_numeric)"),
    "as.integer": lambda args: "convert the column in pandas before fitting (e.g. .astype(int))",
    "sqrt": lambda args: f"use np.sqrt({args})",
    "log1p": lambda args: f"use np.log1p({args})",
    "expm1": lambda args: f"use np.expm1({args})",
    "ifelse": lambda args: f"use np.where({args})",
    "pmin": lambda args: f"use np.minimum({args})",
    "pmax": lambda args: f"use np.maximum({args})",
    "ns": lambda args: (
        f"use cr({args}) (formulaic's natural cubic regression spline; its basis differs "
        "from R's ns())"),
    "relevel": lambda args: "use {}, contr.treatment({})) to choose the reference level".format(
        "C(" + args.split(",")[0].strip(), args.partition(",")[2].split("=")[-1].strip()),
    "interaction": lambda args: f"use {':'.join(part.strip() for part in args.split(','))}",
    "cut": lambda args: "cut the column in pandas before fitting (pd.cut)",
    "is.na": lambda args: f"use np.isnan({args}) (pd.isna for a non-numeric column)",
    "Error": lambda args: (
        f"aov's error strata are random effects here: write (1 | {args}) (one term per "
        "stratum)"),
    "s": lambda args: (
        f"smooth terms (mgcv's s()) are not supported: use a spline basis, cr({args}, df=5) "
        "or bs(...) (formulaic's; the smoothness is then not penalized)"),
}
# R's contrast functions given to C() by name, as C(f, sum): formulaic wants contr.sum.
_R_CONTRASTS = ("sum", "treatment", "helmert", "poly", "SAS")
_R_CONSTANTS = {"TRUE": "True", "FALSE": "False", "NULL": "None"}


def reject_r_habits(tokens: list[Token], partner: dict[int, int], formula: str) -> None:
    """Raise FormulaError at the first R-only construct in ``tokens``.

    Examples
    --------
    >>> from lmmpy.formula._tokens import match_brackets, tokenize
    >>> text = "y ~ factor(x) + (1 | g)"
    >>> toks = tokenize(text)
    >>> try:
    ...     reject_r_habits(toks, match_brackets(toks, text), text)
    ... except FormulaError as error:
    ...     print(error.reason)
    R's factor() is not a formula function here: use C(x) (formulaic's categorical)
    """
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.kind == "name" and following is not None and following.text == "(":
            _reject_r_function(tokens, partner, index, formula)
        elif token.kind == "name" and token.text == ".":
            raise FormulaError(
                "'.' (all other columns) is not supported: name the fixed effects, e.g. "
                "'y ~ x1 + x2 + (1 | g)'", formula, token.start)
        elif token.kind == "name" and token.text in _R_CONSTANTS and index > 0 and (
                tokens[index - 1].text == "="):
            raise FormulaError(
                f"R's {token.text} is written {_R_CONSTANTS[token.text]} in a formula here",
                formula, token.start)
        elif token.text == "{":
            _reject_braced_bar(tokens, partner, index, formula)


def _reject_r_function(tokens: list[Token], partner: dict[int, int], index: int,
                       formula: str) -> None:
    name = tokens[index].text
    close = partner[index + 1]
    args = formula[tokens[index + 1].end:tokens[close].start].strip()
    if name == "C":
        _reject_r_contrast(args, formula, tokens[index].start)
    if name not in _R_FUNCTIONS:
        return
    raise FormulaError(
        f"R's {name}() is not a formula function here: {_R_FUNCTIONS[name](args)}",
        formula, tokens[index].start)


def _reject_braced_bar(tokens: list[Token], partner: dict[int, int], index: int,
                       formula: str) -> None:
    depth = 0
    for inner in range(index + 1, partner[index]):
        depth += {"open": 1, "close": -1}.get(tokens[inner].kind, 0)
        if depth == 0 and tokens[inner].text in ("|", "||"):
            text = formula[tokens[index].start:tokens[partner[index]].end]
            raise FormulaError(
                f"random-effects term {text} must be in round parentheses: "
                f"({text[1:-1].strip()})", formula, tokens[index].start)


def _reject_r_contrast(args: str, formula: str, position: int) -> None:
    """``C(f, sum)``, R's way to name a contrast, is formulaic's ``C(f, contr.sum)``."""
    column, _, contrast = args.partition(",")
    if contrast.strip() in _R_CONTRASTS:
        raise FormulaError(
            f"R's C({args}) names the contrast: write C({column.strip()}, "
            f"contr.{contrast.strip()}) (formulaic's contrasts)", formula, position)
