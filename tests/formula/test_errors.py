"""Malformed formulas: FormulaError, its message, and where the caret points."""

from __future__ import annotations

import pytest

from lmmpy.formula import FormulaError, parse_formula

# (formula, regex the reason must match, column the caret must point at)
BAD = [
    # Brackets and quotes.
    ("y ~ x + (1 | g", r"^unbalanced parenthesis in formula$", 8),
    ("y ~ x + 1 | g)", r"^unbalanced parenthesis in formula$", 13),
    ("y ~ x + (1 | g]", r"^unbalanced bracket in formula$", 14),
    ("y ~ f(x))", r"^unbalanced parenthesis in formula$", 8),
    ("y ~ x + `a b", r"^unbalanced backtick in formula$", 8),
    ("y ~ x + f('a)", r"^unbalanced string quote in formula$", 10),
    ("y ~ x + ``", r"empty backtick-quoted name", 8),
    ("y ~ x $ z", r"unexpected character '\$'", 6),
    # Bar terms.
    ("y ~ (x | )", r"random-effects term '\(x \| \)' has no grouping factor right of '\|'", 9),
    ("y ~ (x || )", r"'\(x \|\| \)' has no grouping factor right of '\|\|'", 10),
    ("y ~ ( | g)", r"random-effects term '\( \| g\)' has nothing left of '\|'", 6),
    ("y ~ x + (|| g)", r"'\(\|\| g\)' has nothing left of '\|\|'", 9),
    ("y ~ x + 1 | g", r"'x \+ 1 \| g' must be enclosed in parentheses", 10),
    ("y ~ 1 | g", r"'1 \| g' must be enclosed in parentheses", 6),
    ("y ~ (1 | g + h)", r"grouping factor 'g \+ h' of random-effects term '\(1 \| g \+ h\)'", 11),
    ("y ~ (1 | log(g))", r"grouping factor 'log\(g\)' .* joined by ':' or '/'", 9),
    ("y ~ (1 | 2)", r"grouping factor '2'", 9),
    ("y ~ (1 | a/(b))", r"grouping factor 'a/\(b\)'", 11),
    ("y ~ (1 | g|h)", r"'\(1 \| g\|h\)' has more than one bar", 10),
    ("y ~ x - (1 | g)", r"'\(1 \| g\)' cannot be subtracted", 6),
    ("y ~ -(1 | g)", r"'\(1 \| g\)' cannot be subtracted", 4),
    ("y ~ x:(1 | g)", r"'\(1 \| g\)' must be a separate, parenthesised '\+' term", 9),
    ("y ~ (x + (1 | g))", r"'\(1 \| g\)' must be a separate", 12),
    ("(1 | g) ~ x", r"the response cannot contain '\|'", 3),
    ("y ~ (0 || g)", r"'\(0 \|\| g\)' has no terms left of '\|\|'", 7),
    ("y ~ (0 + x - x || g)", r"has no terms left of '\|\|'", 15),
    ("y ~ (x^z || g)", r"power of a term must be a positive whole number", 7),
    ("y ~ (2 + x || g)", r"cannot use '2' inside a term", 5),
    # Offsets.
    ("y ~ offset(a, b)", r"offset\(\) takes exactly one expression", 4),
    ("y ~ x + offset()", r"offset\(\) takes exactly one expression", 8),
    ("y ~ x - offset(a)", r"offset\(\) term cannot be subtracted", 6),
    # Operators and operands.
    ("y ~ x +", r"^operator '\+' is missing its right operand$", 6),
    ("y ~ x + (1 | g) +", r"operator '\+' is missing its right operand", 16),
    ("y ~ x * (z +)", r"operator '\+' is missing its right operand", 11),
    ("y ~ * x", r"operator '\*' is missing its left operand", 4),
    ("y ~ x ~ z", r"^more than one '~' in formula$", 6),
    ("y ~ x == z", r"operator '==' cannot be used here", 6),
    ("y ~ x y", r"missing operator between 'x' and 'y'", 6),
    ("x y", r"missing operator between 'x' and 'y'", 2),
    ("y ~ ()", r"empty parentheses", 4),
    ("y ~ 'a'", r"unexpected \"'a'\"", 4),
    ("y ~ x, z", r"unexpected ','", 5),
    ("y ~ [x]", r"unexpected '\['", 4),
    # Empty parts.
    ("y ~", r"^empty right-hand side in formula$", 3),
    ("y ~   ", r"^empty right-hand side in formula$", 3),
    ("~", r"^empty right-hand side in formula$", 1),
    ("", r"^empty formula$", 0),
    ("   ", r"^empty formula$", 0),
    # Python code formulaic would evaluate, and what formulaic itself rejects.
    ("y ~ f(,)", r"invalid Python code 'f\(,\)'", 6),
    ("y ~ x + np.log(x y)", r"invalid Python code 'np.log\(x y\)'", 15),
    ("y ~ 2 + x", r"formulaic cannot parse the fixed-effects part '2 \+ x'", 4),
    ("y ~ x + (2 | g)", r"formulaic cannot parse the random-effects term '2'", 9),
]


@pytest.mark.parametrize(("formula", "reason", "column"), BAD, ids=[row[0] for row in BAD])
def test_bad_formula_is_reported_with_a_caret(formula: str, reason: str, column: int) -> None:
    with pytest.raises(FormulaError) as caught:
        parse_formula(formula)
    err = caught.value
    assert err.position == column
    assert err.formula == formula
    lines = str(err).splitlines()
    assert len(lines) == 3
    assert lines[0] == err.reason
    assert lines[1] == "  " + formula.replace("\t", " ")
    assert lines[2] == " " * (2 + column) + "^"
    with pytest.raises(FormulaError, match=reason):
        raise FormulaError(err.reason)


def test_message_layout_matches_the_documented_example() -> None:
    with pytest.raises(FormulaError) as caught:
        parse_formula("y ~ x + (1 | g")
    assert str(caught.value) == ("unbalanced parenthesis in formula\n  y ~ x + (1 | g\n          ^")


def test_caret_line_keeps_columns_when_the_formula_has_newlines() -> None:
    formula = "y ~ x +\n (1 | g"
    with pytest.raises(FormulaError) as caught:
        parse_formula(formula)
    lines = str(caught.value).splitlines()
    assert lines[1] == "  y ~ x +  (1 | g"
    assert lines[2].index("^") - 2 == formula.index("(")


def test_bad_term_messages_name_the_term() -> None:
    with pytest.raises(FormulaError, match=r"\(x \| \)"):
        parse_formula("y ~ z + (x | )")
