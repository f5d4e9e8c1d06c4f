"""Parsing of lme4-style mixed-model formulas.

formulaic cannot read ``(x | g)`` bar terms, so this package finds them
itself, expands ``||`` and ``/`` as lme4 does, and hands formulaic only plain
pieces: the response, the fixed part and each random term's left side.

Notes
-----
Beyond lme4's own rules:

* ``^`` inside any ``I(...)`` is rewritten to ``**``: formulaic evaluates
  ``I()`` contents as Python, where ``^`` is XOR.  Elsewhere ``^``/``**``
  are left to formulaic as term powers, ``(a + b)^2``.
* Other function calls are Python code: a ``|`` inside one, as in
  ``I(a | b)``, is Python's "or", not a random-effects bar.
* Bare Python keywords used as column names (``class``, ``in``, ``lambda``
  ...) are backtick-quoted in the response, fixed part and bar left sides;
  grouping factors are plain names (backticks stripped).
* Output pieces are re-spaced canonically (``y~x+(1|g)`` parses the same as
  ``y ~ x + (1 | g)``); strings and backtick-quoted names are kept verbatim.

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
