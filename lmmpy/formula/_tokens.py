"""Tokenising and re-rendering formula text.

The tokeniser splits a formula into names, numbers, strings, backtick-quoted
names, operators, brackets and commas, keeping each token's source position
so that errors can point at it.  It checks that brackets balance, and
rewrites R's power operator ``^`` to Python's ``**`` inside every ``I(...)``
call (formulaic evaluates ``I()`` contents as Python, where ``^`` is XOR).

`render` turns a run of tokens back into text with canonical spacing, so the
pieces handed on do not depend on how the user spaced the formula.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ._errors import FormulaError

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[jJL]?)
  | (?P<name>(?:[^\W\d]|\.)[\w.]*)
  | (?P<op>\|\||\*\*|//|==|!=|<=|>=|%[^%\s]*%|[~+\-*/:^|&<>=!@])
  | (?P<open>[(\[{])
  | (?P<close>[)\]}])
  | (?P<comma>,)
    """,
    re.VERBOSE,
)
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_PREFIX_OPS = frozenset({"-", "+", "*", "**", "!", "~"})
_TIGHT_OPS = frozenset({":", "^", "**", "=", "!"})


@dataclass(frozen=True)
class Token:
    """One token: its kind, source text, source span and rendered text."""

    kind: str
    text: str
    start: int
    end: int
    out: str = ""
    unary: bool = False

    @property
    def shown(self) -> str:
        """The text to emit when rendering (a rewrite, or the source text)."""
        return self.out or self.text


def tokenize(formula: str) -> list[Token]:
    """Split `formula` into tokens; raise FormulaError on unknown characters.

    Examples
    --------
    >>> [t.text for t in tokenize("y ~ x + (1|g)")]
    ['y', '~', 'x', '+', '(', '1', '|', 'g', ')']
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(formula):
        token = _next_token(formula, pos)
        pos = token.end
        if token.kind != "space":
            tokens.append(_mark_unary(token, tokens[-1] if tokens else None))
    return tokens


def _next_token(formula: str, pos: int) -> Token:
    """Read the token starting at `pos`."""
    char = formula[pos]
    if char in "`'\"":
        return _quoted(formula, pos)
    found = _TOKEN_RE.match(formula, pos)
    if found is None or found.lastgroup is None:
        raise FormulaError(f"unexpected character {char!r} in formula", formula, pos)
    return Token(found.lastgroup, found.group(), pos, found.end())


def _quoted(formula: str, pos: int) -> Token:
    """Read a backtick-quoted name or a string literal starting at `pos`."""
    quote = formula[pos]
    end = pos + 1
    while end < len(formula) and formula[end] != quote:
        end += 2 if formula[end] == "\\" and quote != "`" else 1
    if end >= len(formula):
        what = "backtick" if quote == "`" else "string quote"
        raise FormulaError(f"unbalanced {what} in formula", formula, pos)
    if quote == "`" and end == pos + 1:
        raise FormulaError("empty backtick-quoted name in formula", formula, pos)
    kind = "backtick" if quote == "`" else "string"
    return Token(kind, formula[pos : end + 1], pos, end + 1)


def _mark_unary(token: Token, previous: Token | None) -> Token:
    """Flag prefix operators: those that do not follow an operand."""
    if token.kind != "op" or token.text not in _PREFIX_OPS:
        return token
    if previous is None or previous.kind in ("op", "open", "comma"):
        return replace(token, unary=True)
    return token


def match_brackets(tokens: list[Token], formula: str) -> dict[int, int]:
    """Map each bracket token index to the index of its partner.

    Raises FormulaError at the first bracket without a partner.
    """
    partner: dict[int, int] = {}
    stack: list[int] = []
    for index, token in enumerate(tokens):
        if token.kind == "open":
            stack.append(index)
        elif token.kind == "close":
            if not stack or _PAIRS[tokens[stack[-1]].text] != token.text:
                raise _bracket_error(token, formula)
            opener = stack.pop()
            partner[opener], partner[index] = index, opener
    if stack:
        raise _bracket_error(tokens[stack[-1]], formula)
    return partner


def _bracket_error(token: Token, formula: str) -> FormulaError:
    """The error for an unpartnered bracket."""
    what = "parenthesis" if token.text in "()" else "bracket"
    return FormulaError(f"unbalanced {what} in formula", formula, token.start)


def rewrite_powers(tokens: list[Token], partner: dict[int, int]) -> list[Token]:
    """Replace ``^`` by ``**`` inside every ``I(...)`` call.

    Examples
    --------
    >>> toks = tokenize("I(x^2)")
    >>> render(rewrite_powers(toks, match_brackets(toks, "I(x^2)")), 0, len(toks))[0]
    'I(x**2)'
    """
    inside = set()
    for index, token in enumerate(tokens[:-1]):
        if token.kind == "name" and token.text == "I" and tokens[index + 1].text == "(":
            inside.update(range(index + 2, partner[index + 1]))
    return [
        replace(tok, out="**") if i in inside and tok.text == "^" else tok
        for i, tok in enumerate(tokens)
    ]


def render(tokens: list[Token], lo: int, hi: int) -> tuple[str, list[tuple[int, int]]]:
    """Render tokens ``lo:hi`` with canonical spacing.

    Returns the text and, per token, ``(offset in text, offset in source)``
    so positions in the rendered text can be mapped back to the formula.

    Examples
    --------
    >>> render(tokenize("1+x:z"), 0, 5)[0]
    '1 + x:z'
    """
    parts: list[str] = []
    offsets: list[tuple[int, int]] = []
    length = 0
    for index in range(lo, hi):
        gap = _gap(tokens[index - 1], tokens[index]) if index > lo else ""
        offsets.append((length + len(gap), tokens[index].start))
        parts.append(gap + tokens[index].shown)
        length += len(parts[-1])
    return "".join(parts), offsets


def _gap(left: Token, right: Token) -> str:
    """The spacing to put between two adjacent tokens."""
    if right.kind in ("close", "comma") or left.kind == "open":
        return ""
    if left.kind == "comma":
        return " "
    if left.kind == "op" and (left.unary or left.shown in _TIGHT_OPS):
        return ""
    if right.kind == "op":
        return "" if right.shown in _TIGHT_OPS else " "
    if left.kind == "op":
        return " "
    if right.kind == "open":
        return "" if left.kind in ("name", "close") else " "
    return " "


def source_position(offsets: list[tuple[int, int]], rendered_pos: int) -> int:
    """Map a position in rendered text back to the formula source."""
    best = offsets[0][1] if offsets else 0
    for rendered, source in offsets:
        if rendered > rendered_pos:
            break
        best = source + (rendered_pos - rendered)
    return best
