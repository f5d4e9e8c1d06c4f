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
    ("y ~ x + -offset(a)", r"offset\(\) term cannot be subtracted", 8),
    ("y ~ x + -(1 | g)", r"'\(1 \| g\)' cannot be subtracted", 8),
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
    # R habits formulaic does not share: refused by the parser, saying what to write.
    ("y ~ . + (1 | g)", r"^'\.' \(all other columns\) is not supported: name the fixed effects",
     4),
    ("y ~ x + . + (1 | g)", r"'\.' \(all other columns\) is not supported", 8),
    ("y ~ x + {1 | g}", r"^random-effects term \{1 \| g\} must be in round parentheses: "
     r"\(1 \| g\)$", 8),
    ("y ~ x + {x || g}", r"\{x \|\| g\} must be in round parentheses: \(x \|\| g\)$", 8),
    ("y ~ x + ({1 | g})", r"\{1 \| g\} must be in round parentheses", 9),
    ("y ~ factor(x) + (1 | g)",
     r"^R's factor\(\) is not a formula function here: use C\(x\) \(formulaic's categorical\)$",
     4),
    ("y ~ as.factor(dose) * t + (1 | g)", r"R's as\.factor\(\) .*: use C\(dose\)", 4),
    ("y ~ x + (1 + factor(z) | g)", r"R's factor\(\) .*: use C\(z\)", 13),
    ("y ~ C(factor(x)) + (1 | g)", r"R's factor\(\)", 6),
    ("y ~ ordered(x) + (1 | g)", r"R's ordered\(\) .*: make the column an ordered pandas "
     r"Categorical", 4),
    ("y ~ as.numeric(x) + (1 | g)", r"R's as\.numeric\(\) .*convert the column in pandas", 4),
    ("y ~ sqrt(x) + (1 | g)", r"R's sqrt\(\) .*: use np\.sqrt\(x\)$", 4),
    ("y ~ log1p(x) + (1 | g)", r"use np\.log1p\(x\)$", 4),
    ("y ~ ns(x, 3) + (1 | g)", r"R's ns\(\) .*: use cr\(x, 3\)", 4),
    ("y ~ relevel(f, ref = 'b') + (1 | g)", r"use C\(f, contr\.treatment\('b'\)\) to choose "
     r"the reference level$", 4),
    ("y ~ relevel(f, 'b') + (1 | g)", r"use C\(f, contr\.treatment\('b'\)\)", 4),
    ("y ~ interaction(a, b) + (1 | g)", r"R's interaction\(\) .*: use a:b$", 4),
    ("y ~ ifelse(x > 0, 1, 0) + (1 | g)", r"use np\.where\(x > 0, 1, 0\)$", 4),
    ("y ~ poly(x, 2, raw = TRUE) + (1 | g)", r"^R's TRUE is written True in a formula here$",
     21),
    ("y ~ C(x, levels = NULL) + (1 | g)", r"R's NULL is written None", 18),
    ("y ~ is.na(x) + (1 | g)", r"R's is\.na\(\) .*: use np\.isnan\(x\) \(pd\.isna for a "
     r"non-numeric column\)$", 4),
    ("y ~ x + Error(g) ", r"R's Error\(\) .*: aov's error strata are random effects here: "
     r"write \(1 \| g\)", 8),
    ("y ~ s(x, k = 5) + (1 | g)", r"R's s\(\) .*smooth terms \(mgcv's s\(\)\) are not "
     r"supported: use a spline basis, cr\(x, k = 5, df=5\)", 4),
    ("y ~ C(f, sum) + (1 | g)", r"^R's C\(f, sum\) names the contrast: write "
     r"C\(f, contr\.sum\) \(formulaic's contrasts\)$", 4),
    ("y ~ x + C(f,helmert) + (1 | g)", r"write C\(f, contr\.helmert\)", 8),
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


@pytest.mark.parametrize("formula", [1, None, b"y ~ x + (1 | g)", ["y ~ x + (1 | g)"]])
def test_a_formula_that_is_not_a_string_is_a_type_error(formula) -> None:
    with pytest.raises(TypeError, match=rf"^formula must be a string such as 'y ~ x \+ "
                                        rf"\(1 \| g\)', not {type(formula).__name__}$"):
        parse_formula(formula)


@pytest.mark.parametrize("formula", [
    "y ~ log10(x) + np.sqrt(x) + C(f) + (1 | g)",   # what formulaic does offer
    "y ~ TRUE + (1 | g)",                           # a column may be called TRUE
    "y ~ I(a | b) + (1 | g)",                       # "|" in Python code, not a bar
    "y.obs ~ x.1 + (1 | sub.ject)",
    "y ~ C(f, contr.sum) + s + (1 | s)",            # a column may be called s
])
def test_what_is_not_an_r_habit_still_parses(formula) -> None:
    parse_formula(formula)
