"""docs/glmm.md: its code runs, and the numbers it quotes are the ones the code gives."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

PAGE = (Path(__file__).parents[2] / "docs" / "glmm.md").read_text()


@pytest.fixture(scope="module")
def namespace() -> dict:
    blocks = re.findall(r"```python\n(.*?)```", PAGE, flags=re.S)
    assert len(blocks) >= 5
    names: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # the examples fit without warnings
        for block in blocks:
            exec(compile(block, "docs/glmm.md", "exec"), names)
    return names


def test_quoted_numbers(namespace):
    m, agq, b, probit = (namespace[k] for k in ("m", "agq", "b", "probit"))
    new = namespace["new"]
    assert f"{m.theta[0]:.4f}" == "0.6423" and "θ = 0.6423" in PAGE
    assert (round(m.loglik, 4), round(m.aic, 2), round(m.bic, 2)) == (-92.0263, 194.05, 204.18)
    assert round(m.deviance, 2) == 73.47
    np.testing.assert_allclose(m.predict(new, type="response", allow_new_levels=True),
                               [0.3082, 0.0484], atol=5e-5)
    np.testing.assert_allclose(m.predict(new, re_form=False), [-1.3985, -2.9788], atol=5e-5)
    assert round(namespace["same"].loglik, 4) == -92.0263
    assert round(agq.loglik, 3) == -50.005
    assert round(namespace["quick"].loglik, 4) == -92.0543
    assert (round(agq.fixef.iloc[0], 4), round(m.fixef.iloc[0], 4)) == (-1.3992, -1.3985)
    assert (round(b.loglik, 2), round(probit.loglik, 2)) == (-96.13, -96.47)


def test_quoted_summary_is_the_printed_one(namespace):
    printed = str(namespace["m"].summary())
    quoted = re.search(r"```text\n(.*?)```", PAGE, flags=re.S).group(1)
    lines = [line.rstrip() for line in printed.splitlines()]
    for line in quoted.splitlines():
        assert line.rstrip() in lines, line


def test_quoted_coefficients(namespace):
    table = namespace["b"].coefficients().round(3)
    for name, row in table.iterrows():
        quoted = f"# {name:<14}" + "".join(f"{value:>12.3f}" for value in row)
        assert " ".join(quoted.split()) in " ".join(PAGE.split()), name


def _quoted_text_blocks() -> list[str]:
    return re.findall(r"```text\n(.*?)```", PAGE, flags=re.S)


def _same_within_last_digit(quoted: str, printed: list[str]) -> bool:
    """A quoted line whose numbers differ from a printed line's by one unit of their last
    digit (an estimate such as 0.330235 prints as 0.33023 or 0.33024 with the last ulp of
    the optimum)."""
    words = quoted.split()
    for line in printed:
        other = line.split()
        if len(other) != len(words) or not words or other[0] != words[0]:
            continue
        if all(a == b or _one_digit_apart(a, b) for a, b in zip(words, other, strict=True)):
            return True
    return False


def _one_digit_apart(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    decimals = len(a.split(".")[1]) if "." in a else 0
    return abs(x - y) <= 1.5 * 10.0**-decimals


def test_quoted_count_models(namespace):
    import lmmpy

    pois, nb = namespace["pois"], namespace["nb"]
    blocks = _quoted_text_blocks()
    assert str(lmmpy.check_overdispersion(pois)) + "\n" in blocks
    printed = [line.rstrip() for line in str(nb.summary()).splitlines()]
    quoted = next(block for block in blocks if "Negative Binomial" in block)
    for line in quoted.splitlines():
        assert line.rstrip() in printed or _same_within_last_digit(line, printed), line
    assert round(nb.nb_theta, 3) == 7.419
    assert (round(nb.loglik, 2), round(pois.loglik, 2)) == (-626.26, -666.84)
    assert round(lmmpy.check_overdispersion(nb).ratio, 3) == 0.776
    assert (round(pois.fixef_se["V4"], 3), round(nb.fixef_se["V4"], 3)) == (0.055, 0.087)
    assert (round(pois.varcorr.vcov[0], 3), round(nb.varcorr.vcov[0], 3)) == (0.266, 0.230)
    assert nb.nb_search.method == "joint" and 10 <= nb.nb_search.n_evaluations <= 40
    assert "('joint', 19)" in PAGE   # as measured when written (the test bounds it)


def test_separation_example_raises(namespace):
    import lmmpy

    with pytest.raises(ValueError, match=r"complete separation: .*'\(Intercept\)', 'dose' is "
                                         r"infinite"):
        lmmpy.glmer("cured ~ dose + (1 | clinic)", namespace["trial"], family="binomial")
