"""Property tests: random well-formed formulas parse as their structure says,
and random garbage either parses or raises FormulaError, nothing else."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

from formulaic import Formula
from hypothesis import given, settings
from hypothesis import strategies as st

from lmmpy.formula import FormulaError, ParsedFormula, parse_formula

TERM_NAMES = ["x", "z", "w", "Days", "a.b", "class", "in", "`my col`"]
GROUP_NAMES = ["g", "h", "Subject", "class", "s.id", "`my school`"]
RESPONSES = [None, "y", "np.log(y)", "lambda"]
# No example database on disk; no deadline (formulaic's first call is slow).
QUICK = settings(deadline=None, database=None)


@dataclass(frozen=True)
class Bar:
    """A generated bar term and the number of terms `||` splits it into."""

    lhs: str
    double_terms: int
    double: bool
    levels: tuple[tuple[str, ...], ...]  # '/'-separated levels of ':'-joined names

    def text(self, tight: bool) -> str:
        sep = "" if tight else " "
        op = "||" if self.double else "|"
        group = "/".join(":".join(level) for level in self.levels)
        return f"({self.lhs}{sep}{op}{sep}{group})"

    def groups(self) -> list[tuple[str, ...]]:
        """The groups lme4 expands the nesting into, innermost first."""
        levels = [tuple(name.strip("`") for name in level) for level in self.levels]
        return [
            tuple(name for level in reversed(levels[:depth]) for name in level)
            for depth in range(len(levels), 0, -1)
        ]

    def expected(self) -> list[tuple[str, ...]]:
        models = self.double_terms if self.double else 1
        return [group for _ in range(models) for group in self.groups()]


@dataclass(frozen=True)
class Structure:
    """A generated formula: response, prefix, fixed names, bars, offsets."""

    response: str | None
    prefix: str
    pieces: tuple[str | Bar, ...]

    def text(self, tight: bool) -> str:
        plus = "+" if tight else " + "
        parts = [p if isinstance(p, str) else p.text(tight) for p in self.pieces]
        rhs = plus.join(([self.prefix] if self.prefix else []) + parts) or "1"
        tilde = "~" if tight else " ~ "
        return rhs if self.response is None else f"{self.response}{tilde}{rhs}"

    def bars(self) -> list[Bar]:
        return [p for p in self.pieces if isinstance(p, Bar)]


@st.composite
def bar_lhs(draw: st.DrawFn) -> tuple[str, int]:
    """A random-effects left side and its number of formula terms."""
    a, b = draw(st.lists(st.sampled_from(TERM_NAMES), min_size=2, max_size=2, unique=True))
    return draw(
        st.sampled_from(
            [
                ("1", 1),
                (a, 2),
                (f"1 + {a}", 2),
                (f"0 + {a}", 1),
                (f"{a} * {b}", 4),
                (f"0 + {a} + {b}", 2),
                (f"{a} + {b}", 3),
                (f"{a}:{b} - 1", 1),
            ]
        )
    )


@st.composite
def bars(draw: st.DrawFn) -> Bar:
    lhs, terms = draw(bar_lhs())
    names = draw(st.lists(st.sampled_from(GROUP_NAMES), min_size=1, max_size=4, unique=True))
    cuts = draw(st.lists(st.booleans(), min_size=len(names) - 1, max_size=len(names) - 1))
    levels: list[tuple[str, ...]] = [(names[0],)]
    for name, new_level in zip(names[1:], cuts, strict=True):
        levels.append((name,)) if new_level else levels.__setitem__(-1, (*levels[-1], name))
    return Bar(lhs, terms, draw(st.booleans()), tuple(levels))


@st.composite
def structures(draw: st.DrawFn) -> Structure:
    fixed = draw(st.lists(st.sampled_from(TERM_NAMES), max_size=3, unique=True))
    offsets = draw(st.lists(st.sampled_from(["offset(n)", "offset(np.log(t))"]), max_size=2))
    pieces = draw(st.permutations([*fixed, *offsets, *draw(st.lists(bars(), max_size=3))]))
    prefix = draw(st.sampled_from(["", "0", "1", "-1"]))
    return Structure(draw(st.sampled_from(RESPONSES)), prefix, tuple(pieces))


def assert_formulaic_pieces(parsed: ParsedFormula) -> None:
    """Every piece handed on is plain formulaic input; parsing the fixed part
    again finds no bar or offset terms in it."""
    again = parse_formula(parsed.fixed)
    assert (again.random, again.offsets) == ((), ())
    formulaic_parses(parsed.fixed)
    for term in parsed.random:
        formulaic_parses(term.lhs)
        # lme4 parenthesises inner nested groups (``c:(b:a)``); the factors are the same
        if term.name:
            def strip(text: str) -> str:
                return text.replace("(", "").replace(")", "")

            assert strip(term.name) == strip(":".join(term.group))
        else:
            assert term.group_name == ":".join(term.group)


@cache
def formulaic_parses(text: str) -> bool:
    """Parse `text` with formulaic (raising if it cannot); cached, pieces repeat.

    The context stands in for the data, which R's "." needs to be expanded.
    """
    Formula(text, _context={"__formulaic_variables_available__": ["x", "z"]})
    return True


@settings(QUICK, max_examples=150)
@given(structures())
def test_generated_formulas_parse_as_built(structure: Structure) -> None:
    parsed = parse_formula(structure.text(tight=False))
    expected = [group for bar in structure.bars() for group in bar.expected()]
    assert "|" not in parsed.fixed
    assert len(parsed.random) == len(expected)
    assert [term.group for term in parsed.random] == expected
    assert len(parsed.offsets) == sum(str(p).startswith("offset(") for p in structure.pieces)
    assert (parsed.response is None) == (structure.response is None)
    assert_formulaic_pieces(parsed)


@settings(QUICK, max_examples=50)
@given(structures())
def test_spacing_does_not_change_the_result(structure: Structure) -> None:
    spaced, tight = structure.text(tight=False), structure.text(tight=True)
    assert replace(parse_formula(tight), formula=spaced) == parse_formula(spaced)


FRAGMENTS = [
    *"xyzg01 ()|+-*/:~^`'\"[]{},.%$_\n",
    "offset(",
    "I(",
    "||",
    "np.log(",
    "class",
    "%in%",
    "**",
    "==",
]


def check_garbage(text: str) -> None:
    """Parsing either succeeds with formulaic-ready pieces or is a FormulaError.

    A ``|`` may survive in the fixed part only inside a call, where it is
    Python's "or" (``I(a | b)``); the fixed-point check above covers that.
    """
    try:
        parsed = parse_formula(text)
    except FormulaError as err:
        assert err.formula == text
        assert err.position is not None and 0 <= err.position <= len(text)
        return
    assert_formulaic_pieces(parsed)


@settings(QUICK, max_examples=250)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=20).map("".join))
def test_garbage_from_formula_fragments(text: str) -> None:
    check_garbage(text)


@settings(QUICK, max_examples=100)
@given(st.text(max_size=30))
def test_garbage_unicode_text(text: str) -> None:
    check_garbage(text)


@settings(QUICK, max_examples=150)
@given(structures(), st.data())
def test_mutated_formulas(structure: Structure, data: st.DataObject) -> None:
    text = structure.text(tight=False)
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 3))
    insert = data.draw(st.sampled_from(["", *FRAGMENTS]))
    check_garbage(text[:at] + insert + text[at + cut :])
