"""Parsing of lme4-style mixed-model formulas.

formulaic cannot read ``(x | g)`` bar terms, so this package finds them
itself, expands ``||`` and ``/`` as lme4 does, and hands formulaic only plain
pieces: the response, the fixed part and each random term's left side.

Examples
--------
>>> from lmmpy.formula import parse_formula
>>> p = parse_formula("Reaction ~ Days + (Days | Subject)")
>>> p.fixed, p.random[0].lhs, p.random[0].group_name
('Days', 'Days', 'Subject')
"""

from ._errors import FormulaError
from ._formula import ParsedFormula, RandomTerm, parse_formula

__all__ = ["FormulaError", "ParsedFormula", "RandomTerm", "parse_formula"]
