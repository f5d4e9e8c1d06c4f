"""Expansion of ``||`` and ``/`` in random-effects terms, as lme4 does it.

Grouping side: ``a/b/c`` means c nested in b nested in a and expands to the
groups ``c:b:a``, ``b:a``, ``a`` (lme4's order); ``a:b`` is one interaction
group.  Only names joined by ``:`` and ``/`` are accepted.  lme4 names a
nested group as R deparses the ``:`` call it builds, ``c:(b:a)``: the inner
interaction is parenthesised because ``:`` associates to the left.

Left side of ``||``: it is split into its formula terms with R's term
algebra (``+ - * / : %in% ^``, ``0``/``1``/``-1``), ordered by degree like
R's ``terms()``, giving ``1`` (if there is an intercept) followed by
``0 + term`` for each term.  A factor stays one term: the split works on
formula terms, not on model-matrix columns.
"""

from __future__ import annotations

from ._errors import FormulaError
from ._parse import BAR_OPS, Node, Parser

Term = tuple[str, ...]  # the factors of one formula term; () is the intercept


def grouping_factors(parser: Parser, bar: Node) -> list[tuple[Term, str]]:
    """The grouping factors of a bar term, with ``/`` nesting expanded.

    Parameters
    ----------
    parser : Parser
        The parser that built `bar`.
    bar : Node
        A ``|`` or ``||`` node.

    Returns
    -------
    list of (tuple of str, str)
        One tuple of factor names per group, in lme4's order, with lme4's name
        for the group.

    Examples
    --------
    For ``(1 | a/b)`` this returns ``[(("b", "a"), "b:a"), (("a",), "a")]``; for
    ``(1 | a/b/c)`` the first group is ``(("c", "b", "a"), "c:(b:a)")``.
    """
    levels = _nesting_levels(parser, bar.kids[1], bar)
    names = _nested_names(levels)
    return [
        (tuple(name for level in reversed(levels[:depth]) for name in level), names[depth - 1])
        for depth in range(len(levels), 0, -1)
    ]


def _nested_names(levels: list[Term]) -> list[str]:
    """lme4's name of each nesting depth: ``a``, ``b:a``, ``c:(b:a)``."""
    names: list[str] = []
    for level in levels:
        text = ":".join(level)
        if names:
            inner = names[-1]
            text += ":" + (f"({inner})" if ":" in inner else inner)
        names.append(text)
    return names


def _nesting_levels(parser: Parser, node: Node, bar: Node) -> list[Term]:
    """Split ``a:b/c`` into its ``/``-separated levels of ``:``-joined names."""
    if node.kind == "binop" and parser.tokens[node.op].text == "/":
        left = _nesting_levels(parser, node.kids[0], bar)
        return left + _nesting_levels(parser, node.kids[1], bar)
    return [_interaction_names(parser, node, bar)]


def _interaction_names(parser: Parser, node: Node, bar: Node) -> Term:
    """The names of a ``:``-joined grouping interaction."""
    if node.kind == "binop" and parser.tokens[node.op].text == ":":
        left = _interaction_names(parser, node.kids[0], bar)
        return left + _interaction_names(parser, node.kids[1], bar)
    if node.kind == "name":
        return (parser.tokens[node.lo].text.strip("`"),)
    raise _bad_group(parser, node, bar)


def _bad_group(parser: Parser, node: Node, bar: Node) -> FormulaError:
    """The error for a grouping expression that is not names, ':' and '/'."""
    group, term = parser.source(bar.kids[1]), parser.source(bar, parens=True)
    where = node.op if node.kind in ("binop", "unary") else node.lo
    return parser.error(
        f"grouping factor '{group}' of random-effects term '{term}' must be "
        "variable names joined by ':' or '/'",
        where,
    )


def split_double_bar(parser: Parser, lhs: Node, bar: Node) -> list[str]:
    """Split the left side of a ``||`` term into one model formula per term.

    Returns
    -------
    list of str
        ``"1"`` first when there is an intercept, then ``"0 + term"`` for each
        term, terms ordered by degree.

    Examples
    --------
    For ``(x * z || g)`` this returns ``["1", "0 + x", "0 + z", "0 + x:z"]``.
    """
    terms = sorted(_sum_terms(parser, lhs, [()]), key=len)
    if not terms:
        term = parser.source(bar, parens=True)
        raise parser.error(f"random-effects term '{term}' has no terms left of '||'", bar.op)
    return ["1" if not term else "0 + " + ":".join(term) for term in terms]


def _sum_terms(parser: Parser, node: Node, start: list[Term]) -> list[Term]:
    """Fold the ``+``/``-`` separated parts of `node` into a term list."""
    terms = list(start)
    for sign, part in _signed_parts(parser, node, "+"):
        number = _number(parser, part)
        if number in (0.0, 1.0):
            add = (sign == "+") == (number == 1.0)
            terms = _union(terms, [()]) if add else _remove(terms, [()])
        elif sign == "+":
            terms = _union(terms, _node_terms(parser, part))
        else:
            terms = _remove(terms, _node_terms(parser, part))
    return terms


def _signed_parts(parser: Parser, node: Node, sign: str) -> list[tuple[str, Node]]:
    """Flatten a sum into (sign, part) pairs; unary signs fold into the sign."""
    op = parser.tokens[node.op].text if node.op >= 0 else ""
    if node.kind == "binop" and op in ("+", "-"):
        left = _signed_parts(parser, node.kids[0], sign)
        return left + _signed_parts(parser, node.kids[1], _combine(sign, op))
    if node.kind == "unary":
        return _signed_parts(parser, node.kids[0], _combine(sign, op))
    return [(sign, node)]


def _combine(sign: str, op: str) -> str:
    return "+" if (sign == "-") == (op == "-") else "-"


def _number(parser: Parser, node: Node) -> float | None:
    """The value of a numeric literal node, else None."""
    token = parser.tokens[node.lo]
    if node.kind != "atom" or token.kind != "number" or node.hi != node.lo + 1:
        return None
    try:
        return float(token.text)
    except ValueError:
        return None


def _node_terms(parser: Parser, node: Node) -> list[Term]:
    """The terms of a node that is not itself a sum."""
    if node.kind == "paren":
        return _sum_terms(parser, node.kids[0], [])
    if node.kind == "binop":
        return _binop_terms(parser, node)
    number = _number(parser, node)
    if number == 1.0:
        return [()]
    if node.kind == "unary" or number is not None:
        raise parser.error(f"cannot use '{parser.source(node)}' inside a term", node.lo)
    return [(parser.text(node),)]


def _binop_terms(parser: Parser, node: Node) -> list[Term]:
    """Apply ``: %in% * / ^ **`` to the terms of both operands."""
    op = parser.tokens[node.op].text
    if op in ("^", "**"):
        return _power(parser, node)
    if op in BAR_OPS:
        raise parser.error("unexpected '|' in the left side of '||'", node.op)
    left, right = (_node_terms(parser, kid) for kid in node.kids)
    if op in (":", "%in%"):
        return _product(left, right)
    if op == "*":
        return _union(_union(left, right), _product(left, right))
    if op == "/":
        everything = tuple(name for term in left for name in term)
        return _union(left, _product([everything], right))
    raise parser.error(f"operator '{op}' is not supported in a random-effects term", node.op)


def _power(parser: Parser, node: Node) -> list[Term]:
    """``(a + b)^n``: all interactions of the terms up to order n."""
    base, exponent = node.kids
    value = _number(parser, exponent)
    if value is None or value < 1 or value != int(value):
        raise parser.error("the power of a term must be a positive whole number", exponent.lo)
    terms = result = _node_terms(parser, base)
    for _ in range(int(value) - 1):
        result = _union(result, _product(result, terms))
    return result


def _product(left: list[Term], right: list[Term]) -> list[Term]:
    """All pairwise interactions of two term lists."""
    out: list[Term] = []
    for a in left:
        for b in right:
            out = _union(out, [a + tuple(name for name in b if name not in a)])
    return out


def _union(terms: list[Term], more: list[Term]) -> list[Term]:
    """`terms` followed by the terms of `more` it does not already hold."""
    seen = {frozenset(term) for term in terms}
    out = list(terms)
    for term in more:
        if frozenset(term) not in seen:
            seen.add(frozenset(term))
            out.append(term)
    return out


def _remove(terms: list[Term], drop: list[Term]) -> list[Term]:
    """`terms` without those in `drop`."""
    gone = {frozenset(term) for term in drop}
    return [term for term in terms if frozenset(term) not in gone]
