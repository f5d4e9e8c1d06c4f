"""Table-driven tests: lme4-style formulas and the ParsedFormula they give."""

from __future__ import annotations

import dataclasses

import pytest

from lmmpy.formula import FormulaError, ParsedFormula, RandomTerm, parse_formula


def expect(
    formula: str,
    response: str | None,
    fixed: str,
    random: list[tuple] = (),
    offsets: tuple[str, ...] = (),
) -> tuple[str, ParsedFormula]:
    """A (formula, expected result) table row."""
    terms = tuple(RandomTerm(*term) for term in random)
    return formula, ParsedFormula(formula, response, fixed, terms, tuple(offsets))


CASES = [
    # The classic lme4 examples.
    expect(
        "Reaction ~ Days + (Days | Subject)",
        "Reaction",
        "Days",
        [("Days", ("Subject",))],
    ),
    expect("Yield ~ 1 + (1 | Batch)", "Yield", "1", [("1", ("Batch",))]),
    expect(
        "strength ~ 1 + (1 | batch/cask)",
        "strength",
        "1",
        [("1", ("cask", "batch")), ("1", ("batch",))],
    ),
    expect(
        "diameter ~ 1 + (1 | plate) + (1 | sample)",
        "diameter",
        "1",
        [("1", ("plate",)), ("1", ("sample",))],
    ),
    expect(
        "y ~ x + z + (x | school) + (1 | school:class)",
        "y",
        "x + z",
        [("x", ("school",)), ("1", ("school", "class"))],
    ),
    expect(
        "angle ~ recipe * temperature + (1 | recipe:replicate)",
        "angle",
        "recipe * temperature",
        [("1", ("recipe", "replicate"))],
    ),
    expect(
        "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)",
        "y",
        "1 + service",
        [("1", ("s",)), ("1", ("d",)), ("1", ("dept", "service"))],
    ),
    expect(
        "Reaction ~ Days + (Days || Subject)",
        "Reaction",
        "Days",
        [("1", ("Subject",)), ("0 + Days", ("Subject",))],
    ),
    expect(
        "y ~ x + offset(np.log(n)) + (1|g)",
        "y",
        "x",
        [("1", ("g",))],
        ("np.log(n)",),
    ),
    expect(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "cbind(incidence, size - incidence)",
        "period",
        [("1", ("herd",))],
    ),
    # Plain bars: the left side is kept as written.
    expect("y ~ x + (x | g)", "y", "x", [("x", ("g",))]),
    expect("y ~ x + (1 + x | g)", "y", "x", [("1 + x", ("g",))]),
    expect("y ~ x + (0 + x | g)", "y", "x", [("0 + x", ("g",))]),
    expect("y ~ x + (-1 + x | g)", "y", "x", [("-1 + x", ("g",))]),
    expect("y ~ (0 + Machine | Worker)", "y", "1", [("0 + Machine", ("Worker",))]),
    # Double bars: split into the left side's formula terms, intercept first.
    expect(
        "y ~ (x + z || g)",
        "y",
        "1",
        [("1", ("g",)), ("0 + x", ("g",)), ("0 + z", ("g",))],
    ),
    expect("y ~ (0 + x + z || g)", "y", "1", [("0 + x", ("g",)), ("0 + z", ("g",))]),
    expect("y ~ (x - 1 || g)", "y", "1", [("0 + x", ("g",))]),
    expect("y ~ (x - x || g)", "y", "1", [("1", ("g",))]),
    expect(
        "y ~ (x*z || g)",
        "y",
        "1",
        [("1", ("g",)), ("0 + x", ("g",)), ("0 + z", ("g",)), ("0 + x:z", ("g",))],
    ),
    expect(
        "y ~ (x:z + x || g)",
        "y",
        "1",
        [("1", ("g",)), ("0 + x", ("g",)), ("0 + x:z", ("g",))],
    ),
    expect(
        "y ~ ((x + z)^2 || g)",
        "y",
        "1",
        [("1", ("g",)), ("0 + x", ("g",)), ("0 + z", ("g",)), ("0 + x:z", ("g",))],
    ),
    expect("y ~ (a/b || g)", "y", "1", [("1", ("g",)), ("0 + a", ("g",)), ("0 + a:b", ("g",))]),
    # A categorical stays one term: the split is by formula term, not by column.
    expect(
        "score ~ Machine + (Machine || Worker)",
        "score",
        "Machine",
        [("1", ("Worker",)), ("0 + Machine", ("Worker",))],
    ),
    expect("y ~ (1 || g)", "y", "1", [("1", ("g",))]),
    # Nesting: lme4's order and naming, innermost interaction first.
    expect(
        "y ~ (1 | g1/g2/g3)",
        "y",
        "1",
        [("1", ("g3", "g2", "g1"), "g3:(g2:g1)"), ("1", ("g2", "g1")), ("1", ("g1",))],
    ),
    expect("y ~ (1 | a:b/c)", "y", "1", [("1", ("c", "a", "b"), "c:(a:b)"), ("1", ("a", "b"))]),
    expect(
        "y ~ (x || a/b)",
        "y",
        "1",
        [
            ("1", ("b", "a")),
            ("1", ("a",)),
            ("0 + x", ("b", "a")),
            ("0 + x", ("a",)),
        ],
    ),
    # Interaction groups, crossed factors, several terms on one factor.
    expect("y ~ (1 | g1:g2)", "y", "1", [("1", ("g1", "g2"))]),
    expect("y ~ (1 | a) + (1 | b)", "y", "1", [("1", ("a",)), ("1", ("b",))]),
    expect("y ~ (1 | g) + (0 + x | g)", "y", "1", [("1", ("g",)), ("0 + x", ("g",))]),
    expect("y ~ (1 | b) + x + (1 | a)", "y", "x", [("1", ("b",)), ("1", ("a",))]),
    expect("y ~ ((1 | g))", "y", "1", [("1", ("g",))]),
    # The fixed part: "1" when only bars, 0 / -1 kept.
    expect("y ~ (1 | g)", "y", "1", [("1", ("g",))]),
    expect("y ~ 0 + (1 | g)", "y", "0", [("1", ("g",))]),
    expect("y ~ -1 + (1 | g)", "y", "-1", [("1", ("g",))]),
    expect("y ~ (1 | g) - 1", "y", "-1", [("1", ("g",))]),
    expect("y ~ -1 + x + (1 | g)", "y", "-1 + x", [("1", ("g",))]),
    expect("y ~ x - 1", "y", "x - 1"),
    expect("y ~ x", "y", "x"),
    # Offsets, several, in order; none left in the fixed part.
    expect(
        "y ~ offset(a) + x + offset(np.log(b * 2)) + (1 | g)",
        "y",
        "x",
        [("1", ("g",))],
        ("a", "np.log(b * 2)"),
    ),
    expect("y ~ offset(f(a, b)) + (1 | g)", "y", "1", [("1", ("g",))], ("f(a, b)",)),
    # Unary signs in front of a term fold into its sign, as R's terms: a unary "+" is
    # transparent (the offset and the bar are still found), any "-" removes the term.
    expect("y ~ x + +offset(n)", "y", "x", offsets=("n",)),
    expect("np.log(y) ~ ++ offset(n)", "np.log(y)", "1", offsets=("n",)),
    expect("y ~ x + +(1 | g)", "y", "x", [("1", ("g",))]),
    expect("y ~ x + -z", "y", "x - z"),
    expect("y ~ x - -z", "y", "x - z"),
    # R powers inside I() become Python powers; outside they are term powers.
    expect(
        "y ~ x + I(x^2) + (I(x^2) | g)",
        "y",
        "x + I(x**2)",
        [("I(x**2)", ("g",))],
    ),
    expect("y ~ np.log(I(x^2) + 1)", "y", "np.log(I(x**2) + 1)"),
    expect("y ~ I(x**3) + (x + z)^2", "y", "I(x**3) + (x + z)^2"),
    # Python keywords as column names are backtick-quoted; groups are bare.
    expect(
        "class ~ lambda + in + (if | for) + (1 | `my school`)",
        "`class`",
        "`lambda` + `in`",
        [("`if`", ("for",)), ("1", ("my school",))],
    ),
    expect("y ~ x:is + (is || g)", "y", "x:`is`", [("1", ("g",)), ("0 + `is`", ("g",))]),
    expect("y ~ `my x` + (`my x` | g)", "y", "`my x`", [("`my x`", ("g",))]),
    expect("y ~ C(x, levels=[True, False])", "y", "C(x, levels=[True, False])"),
    # Responses are formulaic expressions kept as text; none if one-sided.
    expect("np.log(y) ~ x + (1 | g)", "np.log(y)", "x", [("1", ("g",))]),
    expect("~ x + (1 | g)", None, "x", [("1", ("g",))]),
    expect("x + (1 | g)", None, "x", [("1", ("g",))]),
    # "|" inside a call is Python's "or", not a bar.
    expect("y ~ I(a | b) + (1 | g)", "y", "I(a | b)", [("1", ("g",))]),
    # Dotted (R-style) names.
    expect("y.obs ~ x.1 + (1 | sub.ject)", "y.obs", "x.1", [("1", ("sub.ject",))]),
]


@pytest.mark.parametrize(("formula", "expected"), CASES, ids=[row[0] for row in CASES])
def test_parse_formula(formula: str, expected: ParsedFormula) -> None:
    assert parse_formula(formula) == expected


SPACING = [
    ("y~x+(1|g)", "y ~ x + (1 | g)"),
    ("y  ~x+ z +(1+ x|g1 /g2 )", "y ~ x + z + (1 + x | g1/g2)"),
    ("y ~ x +\n  (x || g)\t+ offset( np.log(n) )", "y~x+(x||g)+offset(np.log(n))"),
    ("y~I(x ^ 2)+(1|a:b)", "y ~ I(x^2) + (1 | a : b)"),
]


@pytest.mark.parametrize(("tight", "spaced"), SPACING)
def test_whitespace_is_irrelevant(tight: str, spaced: str) -> None:
    result = dataclasses.replace(parse_formula(tight), formula=spaced)
    assert result == parse_formula(spaced)


def test_group_name_joins_factor_names() -> None:
    parsed = parse_formula("strength ~ 1 + (1 | batch/cask)")
    assert [term.group_name for term in parsed.random] == ["cask:batch", "batch"]
    assert RandomTerm("1", ("Subject",)).group_name == "Subject"


def test_results_are_frozen() -> None:
    parsed = parse_formula("y ~ x + (1 | g)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.fixed = "z"  # type: ignore[misc]


def test_formula_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        parse_formula("y ~ (x")
    assert issubclass(FormulaError, ValueError)


def test_formula_error_without_formula_is_just_the_reason() -> None:
    assert str(FormulaError("bad")) == "bad"
