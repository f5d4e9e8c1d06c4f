"""`parse_formula`: split an lme4-style formula into its parts.

The formula is tokenised and parsed (``_tokens``, ``_parse``); the right-hand
side is cut at its top-level ``+``/``-`` into terms.  Parenthesised bar terms
``(lhs | group)`` become `RandomTerm`s (``||`` and ``/`` expanded by
``_expand``), ``offset(expr)`` terms are set aside, and the rest is the fixed
part.  Every piece handed on is finally checked with formulaic's own parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from formulaic import Formula

from ._errors import FormulaError
from ._expand import grouping_factors, split_double_bar
from ._habits import reject_r_habits
from ._parse import BAR_OPS, Node, Parser
from ._tokens import match_brackets, render, rewrite_powers, source_position, tokenize

Rendered = tuple[str, list[tuple[int, int]]]  # text and its source offsets


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after expansion.

    Attributes
    ----------
    lhs : str
        Formulaic right-hand side for the term's model matrix, e.g.
        ``"1 + Days"``, ``"0 + Days"``, ``"1"``.
    group : tuple of str
        Grouping factor column names; ``("cask", "batch")`` for the
        interaction ``cask:batch``.
    name : str
        lme4's name for the group where it is not ``":".join(group)``: the
        innermost group of ``(1 | a/b/c)`` is ``c:(b:a)``.  Empty otherwise.

    Examples
    --------
    >>> RandomTerm("1", ("cask", "batch")).group_name
    'cask:batch'
    >>> RandomTerm("1", ("c", "b", "a"), "c:(b:a)").group_name
    'c:(b:a)'
    """

    lhs: str
    group: tuple[str, ...]
    name: str = ""

    @property
    def group_name(self) -> str:
        """The grouping factor as lme4 prints it, e.g. ``"cask:batch"``."""
        return self.name or ":".join(self.group)


@dataclass(frozen=True)
class ParsedFormula:
    """An lme4-style formula split into response, fixed, random and offsets.

    Attributes
    ----------
    formula : str
        The original text.
    response : str or None
        The left side of ``~``; None for a one-sided formula.
    fixed : str
        Formulaic right-hand side of the fixed effects (bar and offset terms
        removed); ``"1"`` when nothing else is left.
    random : tuple of RandomTerm
        The expanded bar terms in lme4's ``findbars`` order.
    offsets : tuple of str
        The expressions inside ``offset(...)`` terms.

    Examples
    --------
    >>> parse_formula("y ~ x + (1 | g)").fixed
    'x'
    """

    formula: str
    response: str | None
    fixed: str
    random: tuple[RandomTerm, ...]
    offsets: tuple[str, ...]


def parse_formula(formula: str) -> ParsedFormula:
    """Parse an lme4-style mixed-model formula.

    Parameters
    ----------
    formula : str
        E.g. ``"Reaction ~ Days + (Days | Subject)"``.  Bar terms must be in
        parentheses; ``||`` and ``/`` are expanded as lme4 does; ``^`` inside
        ``I(...)`` is rewritten to ``**``; bare Python keywords used as names
        are backtick-quoted.

    Returns
    -------
    ParsedFormula

    Raises
    ------
    FormulaError
        If the formula does not parse; the message points at the problem.

    Examples
    --------
    >>> [t.group for t in parse_formula("strength ~ 1 + (1 | batch/cask)").random]
    [('cask', 'batch'), ('batch',)]
    >>> [t.group_name for t in parse_formula("y ~ x + (1 | region/site/unit)").random]
    ['unit:(site:region)', 'site:region', 'region']
    """
    if not isinstance(formula, str):
        raise TypeError(
            f"formula must be a string such as 'y ~ x + (1 | g)', not {type(formula).__name__}"
        )
    try:
        return _parse(formula)
    except RecursionError:
        raise FormulaError("formula is nested too deeply", formula, 0) from None


def _parse(formula: str) -> ParsedFormula:
    tokens = tokenize(formula)
    if not tokens:
        raise FormulaError("empty formula", formula, 0)
    partner = match_brackets(tokens, formula)
    reject_r_habits(tokens, partner, formula)
    parser = Parser(formula, rewrite_powers(tokens, partner), partner)
    tilde = _find_tilde(parser)
    response = _response(parser, tilde)
    start = 0 if tilde is None else tilde + 1
    if start >= len(tokens):
        raise FormulaError("empty right-hand side in formula", formula, len(formula.rstrip()))
    fixed, random, offsets = _split_rhs(parser, parser.parse(start, len(tokens)))
    return ParsedFormula(formula, response, fixed, tuple(random), tuple(offsets))


def _find_tilde(parser: Parser) -> int | None:
    """The index of the one top-level ``~`` token, or None."""
    found: list[int] = []
    depth = 0
    for index, token in enumerate(parser.tokens):
        depth += {"open": 1, "close": -1}.get(token.kind, 0)
        if depth == 0 and token.text == "~":
            found.append(index)
    if len(found) > 1:
        raise parser.error("more than one '~' in formula", found[1])
    return found[0] if found else None


def _response(parser: Parser, tilde: int | None) -> str | None:
    """The checked text of the response, or None."""
    if not tilde:
        return None
    node = parser.parse(0, tilde)
    _reject_bars(parser, node, "the response cannot contain '{op}'")
    rendered = render(parser.tokens, 0, tilde)
    _check_formulaic(parser, rendered, "response")
    return rendered[0]


def _reject_bars(parser: Parser, node: Node, reason: str) -> None:
    """Raise `reason` (with ``{op}`` and ``{term}`` filled in) at any bar."""
    bar = _find_bar(parser, node)
    if bar is not None:
        op, term = parser.tokens[bar.op].text, parser.source(bar, parens=True)
        raise parser.error(reason.format(op=op, term=term), bar.op)


def _find_bar(parser: Parser, node: Node) -> Node | None:
    """The first ``|``/``||`` node in `node`'s tree, or None."""
    if _is_bar(parser, node):
        return node
    for kid in node.kids:
        if (found := _find_bar(parser, kid)) is not None:
            return found
    return None


def _top_terms(parser: Parser, node: Node) -> list[tuple[int, Node]]:
    """Flatten top-level ``+``/``-``: (sign token index or -1, term) pairs."""
    if node.kind == "binop" and parser.tokens[node.op].text in ("+", "-"):
        return [*_top_terms(parser, node.kids[0]), _signed(parser, node.op, node.kids[1])]
    if node.kind == "unary":  # a leading sign, as in "-1 + x"
        return [_signed(parser, node.op, node.kids[0])]
    return [(-1, node)]


def _signed(parser: Parser, sign: int, term: Node) -> tuple[int, Node]:
    """A term and its sign with the unary signs in front of it folded in (``x + +z`` adds
    z, ``x + -z`` removes it, as R's ``terms``): any ``-`` makes the term subtracted."""
    while term.kind == "unary":
        if parser.tokens[term.op].text == "-" and parser.tokens[sign].text != "-":
            sign = term.op
        term = term.kids[0]
    return sign, term


def _split_rhs(parser: Parser, rhs: Node) -> tuple[str, list[RandomTerm], list[str]]:
    """Sort the right-hand side's terms into fixed, random and offsets."""
    kept: list[tuple[int, Node]] = []
    random: list[RandomTerm] = []
    offsets: list[str] = []
    for sign, term in _top_terms(parser, rhs):
        core = _unwrap(term)
        if _is_bar(parser, core):
            _check_bar_position(parser, sign, term, core)
            random.extend(_expand_bar(parser, core))
        elif _is_offset(parser, core):
            offsets.append(_offset_expression(parser, sign, core))
        else:
            _reject_bars(parser, term, _NOT_SEPARATE)
            kept.append((sign, term))
    return _fixed_text(parser, kept), random, offsets


_NOT_SEPARATE = (
    "random-effects term '{term}' must be a separate, parenthesised '+' term of the formula"
)


def _unwrap(node: Node) -> Node:
    """Strip redundant parentheses."""
    while node.kind == "paren":
        node = node.kids[0]
    return node


def _is_bar(parser: Parser, node: Node) -> bool:
    return node.kind == "binop" and parser.tokens[node.op].text in BAR_OPS


def _check_bar_position(parser: Parser, sign: int, term: Node, bar: Node) -> None:
    """Bar terms must be parenthesised and added, not subtracted."""
    if term.kind != "paren":
        text = parser.source(bar)
        raise parser.error(
            f"random-effects term '{text}' must be enclosed in parentheses: '({text})'", bar.op
        )
    if sign >= 0 and parser.tokens[sign].text == "-":
        text = parser.source(term)
        raise parser.error(f"random-effects term '{text}' cannot be subtracted", sign)


def _expand_bar(parser: Parser, bar: Node) -> list[RandomTerm]:
    """The random terms of one bar term, ``||`` and ``/`` expanded."""
    _check_single_bar(parser, bar)
    groups = grouping_factors(parser, bar)
    lhs = bar.kids[0]
    if parser.tokens[bar.op].text == "|":
        rendered = render(parser.tokens, lhs.lo, lhs.hi)
        _check_formulaic(parser, rendered, "random-effects term")
        models = [rendered[0]]
    else:
        models = split_double_bar(parser, lhs, bar)
        for model in models:
            _check_formulaic(parser, (model, [(0, parser.tokens[lhs.lo].start)]), "term")
    return [
        RandomTerm(model, names, "" if name == ":".join(names) else name)
        for model in models
        for names, name in groups
    ]


def _check_single_bar(parser: Parser, bar: Node) -> None:
    """Raise if either side of a bar term holds another bar."""
    nested = [found for side in bar.kids if (found := _find_bar(parser, side))]
    if nested:
        term = parser.source(bar, parens=True)
        where = max(bar.op, nested[0].op)
        raise parser.error(f"random-effects term '{term}' has more than one bar", where)


def _is_offset(parser: Parser, node: Node) -> bool:
    """Whether `node` is exactly a call ``offset(...)``."""
    tokens = parser.tokens
    return (
        node.kind == "atom"
        and tokens[node.lo].text == "offset"
        and node.hi > node.lo + 1
        and parser.partner.get(node.lo + 1) == node.hi - 1
    )


def _offset_expression(parser: Parser, sign: int, node: Node) -> str:
    """The argument of ``offset(...)``; exactly one, and the term added."""
    if sign >= 0 and parser.tokens[sign].text == "-":
        raise parser.error("an offset() term cannot be subtracted", sign)
    lo, hi = node.lo + 2, node.hi - 1
    commas = [i for i in range(lo, hi) if parser.tokens[i].kind == "comma"]
    nested = [i for i in commas if _depth(parser, lo, i) > 0]
    if lo == hi or len(commas) > len(nested):
        raise parser.error("offset() takes exactly one expression", node.lo)
    return render(parser.tokens, lo, hi)[0]


def _depth(parser: Parser, lo: int, index: int) -> int:
    """The bracket depth of token `index` counted from token `lo`."""
    kinds = [parser.tokens[i].kind for i in range(lo, index)]
    return kinds.count("open") - kinds.count("close")


def _fixed_text(parser: Parser, kept: list[tuple[int, Node]]) -> str:
    """Join the fixed terms back together with their signs; "1" if none."""
    if not kept:
        return "1"
    text, offsets = "", []
    for sign, node in kept:
        op = parser.tokens[sign].text if sign >= 0 else "+"
        piece, piece_offsets = render(parser.tokens, node.lo, node.hi)
        joiner = f" {op} " if text else _leading_sign(op, piece)
        offsets += [(at + len(text) + len(joiner), src) for at, src in piece_offsets]
        text += joiner + piece
    _check_formulaic(parser, (text, offsets), "fixed-effects part")
    return text


def _leading_sign(op: str, piece: str) -> str:
    """The sign to write before the first fixed term: "", "-" or "- "."""
    if op != "-":
        return ""
    return "- " if piece[:1] in "+-" else "-"


def _check_formulaic(parser: Parser, rendered: Rendered, what: str) -> None:
    """Raise FormulaError if formulaic cannot parse the rendered piece."""
    text, offsets = rendered
    problem = _formulaic_problem(text)
    if problem is None:
        return
    reason, column = problem
    where = source_position(offsets, column) if offsets else len(parser.formula)
    raise FormulaError(
        f"formulaic cannot parse the {what} '{text}': {reason}", parser.formula, where
    )


# No data at parse time: formulaic needs a list of columns to parse R's "."
# (all other columns), which the parser refuses before (see _habits).
_SYNTAX_ONLY = {"__formulaic_variables_available__": []}


@lru_cache(maxsize=4096)
def _formulaic_problem(text: str) -> tuple[str, int] | None:
    """None if formulaic parses `text`, else (first message line, column)."""
    try:
        Formula(text, _context=_SYNTAX_ONLY)
    except Exception as err:  # any failure at all means "does not parse"
        message = str(err)
        return message.splitlines()[0] if message else type(err).__name__, _marker(message)
    return None


def _marker(message: str) -> int:
    """The column formulaic highlights in its error message, else 0."""
    for line in message.splitlines():
        if "⧛" in line:
            return line.index("⧛")
    return 0
