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
