"""A small precedence parser for formula expressions.

It builds a syntax tree over a token range with R's operator precedence
(lowest first): ``|``/``||``, ``+``/``-``, ``*``/``/``, ``%op%``, ``:``,
unary ``-``/``+``, ``^``/``**``.  Function calls, subscripts and ``{...}``
blocks are kept as opaque atoms: their insides are Python code for
formulaic.  Bare Python keywords used as names are wrapped in backticks.
Each syntax error raises FormulaError pointing at the offending token.
"""

from __future__ import annotations

import ast
import keyword
from dataclasses import dataclass, replace

from ._errors import FormulaError
from ._tokens import Token, render, source_position

_PRECEDENCE = {"|": 1, "||": 1, "+": 2, "-": 2, "*": 3, "/": 3, ":": 5, "^": 7, "**": 7}
_CUSTOM_PRECEDENCE = 4  # %in% and other %op%
_UNARY_PRECEDENCE = 6
_RIGHT_ASSOCIATIVE = frozenset({"^", "**"})
BAR_OPS = frozenset({"|", "||"})
KEYWORDS = frozenset(keyword.kwlist) - {"True", "False", "None"}


@dataclass(frozen=True)
class Node:
    """A syntax-tree node covering tokens ``lo:hi``.

    `kind` is "name" (a bare or backtick-quoted name), "atom" (number,
    call, subscript or ``{...}`` block), "paren", "unary" or "binop"; `op` is
    the operator's token index for "unary" and "binop" (-1 otherwise).
    """

    kind: str
    lo: int
    hi: int
    op: int = -1
    kids: tuple[Node, ...] = ()


class Parser:
    """Parse token ranges of one formula into `Node` trees.

    Parameters
    ----------
    formula : str
        The formula text, for error messages.
    tokens : list of Token
        All tokens of the formula.
    partner : dict
        Bracket partner indices from `match_brackets`.
    """

    def __init__(self, formula: str, tokens: list[Token], partner: dict[int, int]) -> None:
        self.formula = formula
        self.tokens = tokens
        self.partner = partner
        self.pos = 0
        self.hi = 0

    def parse(self, lo: int, hi: int) -> Node:
        """Parse tokens ``lo:hi`` as one expression (bars allowed).

        Examples
        --------
        >>> from ._tokens import tokenize, match_brackets
        >>> toks = tokenize("x + (1 | g)")
        >>> Parser("x + (1 | g)", toks, match_brackets(toks, "")).parse(0, 7).kind
        'binop'
        """
        self.pos, self.hi = lo, hi
        node = self._expr(1)
        self._expect_stop(hi)
        return node

    def text(self, node: Node) -> str:
        """The canonical text of a node."""
        return render(self.tokens, node.lo, node.hi)[0]

    def source(self, node: Node, parens: bool = False) -> str:
        """The node's text as typed; with `parens`, include enclosing (...)."""
        lo, hi = node.lo, node.hi
        if parens and lo > 0 and self.partner.get(lo - 1) == hi:
            lo, hi = lo - 1, hi + 1
        return self.formula[self.tokens[lo].start : self.tokens[hi - 1].end]

    def error(self, reason: str, index: int) -> FormulaError:
        """A FormulaError pointing at token `index` (or the end of the text)."""
        if index < len(self.tokens):
            return FormulaError(reason, self.formula, self.tokens[index].start)
        return FormulaError(reason, self.formula, len(self.formula.rstrip()))

    def _peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < self.hi else None

    def _expr(self, min_precedence: int) -> Node:
        left = self._primary()
        while (precedence := self._binary_precedence()) is not None:
            if precedence < min_precedence:
                break
            op = self.pos
            self.pos += 1
            step = 0 if self.tokens[op].text in _RIGHT_ASSOCIATIVE else 1
            right = self._expr(precedence + step)
            left = Node("binop", left.lo, right.hi, op, (left, right))
        return left

    def _binary_precedence(self) -> int | None:
        token = self._peek()
        if token is None or token.kind != "op":
            return None
        if token.text.startswith("%"):
            return _CUSTOM_PRECEDENCE
        return _PRECEDENCE.get(token.text)

    def _primary(self) -> Node:
        token = self._peek()
        if token is None or token.kind in ("comma", "string"):
            raise self._missing_operand()
        if token.kind == "op":
            return self._unary(token)
        if token.kind == "open":
            return self._bracketed(token)
        if token.kind == "name" and self._next_is("("):
            return self._postfix(self.partner[self.pos + 1] + 1)
        return self._leaf(token)

    def _unary(self, token: Token) -> Node:
        if token.text not in ("-", "+"):
            raise self._missing_operand()
        op = self.pos
        self.pos += 1
        operand = self._expr(_UNARY_PRECEDENCE)
        return Node("unary", op, operand.hi, op, (operand,))

    def _bracketed(self, token: Token) -> Node:
        close = self.partner[self.pos]
        if token.text == "{":
            return self._postfix(close + 1)
        if token.text == "[":
            raise self.error("unexpected '[' in formula", self.pos)
        lo, outer_hi = self.pos, self.hi
        self.pos, self.hi = lo + 1, close
        inner = self._expr(1)
        self._expect_stop(close)
        self.pos, self.hi = close + 1, outer_hi
        return Node("paren", lo, close + 1, kids=(inner,))

    def _leaf(self, token: Token) -> Node:
        lo = self.pos
        if token.kind == "name" and token.text in KEYWORDS:
            self.tokens[lo] = replace(token, out=f"`{token.text}`")
        if token.kind == "number":
            self.pos += 1
            return Node("atom", lo, lo + 1)
        if self._next_is("[", offset=1):
            return self._postfix(lo + 1)
        self.pos += 1
        return Node("name", lo, lo + 1)

    def _postfix(self, hi: int) -> Node:
        """An atom from the current token to `hi`, plus trailing (...) / [...]."""
        lo, self.pos = self.pos, hi
        while self._next_is("(", offset=0) or self._next_is("[", offset=0):
            self.pos = self.partner[self.pos] + 1
        self._check_python(lo, self.pos)
        return Node("atom", lo, self.pos)

    def _check_python(self, lo: int, hi: int) -> None:
        """Raise unless tokens ``lo:hi`` are a valid Python expression."""
        braced = self.tokens[lo].text == "{"
        if braced:
            lo, hi = lo + 1, hi - 1
        code, offsets = render(self.tokens, lo, hi)
        try:
            ast.parse(code, mode="eval")
        except (SyntaxError, ValueError) as err:
            column = (getattr(err, "offset", None) or 1) - 1
            where = source_position(offsets, column) if offsets else self.tokens[lo].start
            reason = f"invalid Python code {code!r} in formula: {getattr(err, 'msg', err)}"
            raise FormulaError(reason, self.formula, where) from None

    def _next_is(self, text: str, offset: int = 1) -> bool:
        index = self.pos + offset
        return index < self.hi and self.tokens[index].text == text

    def _expect_stop(self, stop: int) -> None:
        """Raise unless parsing ended exactly at token `stop`."""
        if self.pos >= stop:
            return
        token = self.tokens[self.pos]
        if token.kind == "op":
            reason = f"operator '{token.text}' cannot be used here in a formula"
        elif token.kind == "comma":
            reason = "unexpected ',' in formula"
        else:
            before = self.tokens[self.pos - 1].text
            reason = f"missing operator between '{before}' and '{token.text}'"
        raise self.error(reason, self.pos)

    def _missing_operand(self) -> FormulaError:
        """The error for a place where an operand was expected but not found."""
        token = self._peek()
        prev = self.tokens[self.pos - 1] if self.pos > 0 else None
        in_parens = self.hi < len(self.tokens) and self.tokens[self.hi].kind == "close"
        if token is not None and token.text in BAR_OPS and prev and prev.text == "(":
            term = self._group_text(self.pos - 1)
            return self.error(
                f"random-effects term {term} has nothing left of '{token.text}'", self.pos
            )
        if token is None and in_parens and prev and prev.text in BAR_OPS:
            term = self._group_text(self.partner[self.hi])
            return self.error(
                f"random-effects term {term} has no grouping factor right of '{prev.text}'",
                self.pos,
            )
        return self._generic_missing(token, prev)

    def _generic_missing(self, token: Token | None, prev: Token | None) -> FormulaError:
        if token is None and prev is not None and prev.kind == "op":
            reason = f"operator '{prev.text}' is missing its right operand"
            return self.error(reason, self.pos - 1)
        if token is None:
            return self.error("empty parentheses in formula", self.pos - 1)
        if token.kind == "op":
            return self.error(f"operator '{token.text}' is missing its left operand", self.pos)
        return self.error(f"unexpected {token.text!r} in formula", self.pos)

    def _group_text(self, open_index: int) -> str:
        """Quote the source of the bracketed group opening at `open_index`."""
        close = self.partner[open_index]
        start, end = self.tokens[open_index].start, self.tokens[close].end
        return repr(self.formula[start:end])
