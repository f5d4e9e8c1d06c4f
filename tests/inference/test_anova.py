"""Type 1, 2 and 3 F tests of model terms (lmerTest's ``anova``): relations and invariances.

The type 3 numbers are checked against lmerTest on every reference case in
test_satterthwaite_reference.py; here the other types are checked where
lmerTest's definitions make them equal to type 3, and type 3 for its
invariance to the factor coding (the hypotheses are built in treatment
coding and mapped to the model's own).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from reference import fitted, load_case

import lmmpy


@functools.cache
def cake(fixed: str, ordered: bool = True) -> lmmpy.LinearMixedModel:
    data = lmmpy.datasets.load("cake")
    if not ordered:
        levels = [str(level) for level in data["temperature"].cat.categories]
        data["temperature"] = pd.Categorical(data["temperature"].astype(str), categories=levels)
    return lmmpy.lmer(f"angle ~ {fixed} + (1 | recipe:replicate)", data)


def _type3_reference(name):
    return pd.DataFrame(load_case(name)["anova_type3_satterthwaite"]).set_index("term")


@pytest.mark.parametrize("type", [1, 2, 3, "I", "II", "III", "3"])
def test_balanced_factorial_gives_the_same_tests_for_every_type(type):
    reference = _type3_reference("cake_reml")
    table = fitted("cake_reml").anova(type=type)
    assert np.allclose(table["f_value"], reference["F"], rtol=1e-4)
    assert np.allclose(table["den_df"], reference["DenDF"], rtol=1e-3)


@pytest.mark.parametrize("type", [2, 3])
def test_without_interactions_types_2_and_3_are_marginal(type):
    reference = _type3_reference("cake_numeric_reml")
    table = fitted("cake_numeric_reml").anova(type=type)
    assert np.allclose(table["f_value"], reference["F"], rtol=1e-4)
    hypotheses = table.attrs["hypotheses"]
    assert np.array_equal(hypotheses["temp"], [[0, 0, 0, 1.0]])


def test_type1_is_sequential():
    m = fitted("sleepstudy_quadratic_reml")
    reference = _type3_reference("sleepstudy_quadratic_reml")
    type1 = m.anova(type=1)
    # the last term is adjusted for everything before it in both types
    assert type1["f_value"].iloc[1] == pytest.approx(reference["F"].iloc[1], rel=1e-4)
    # the first one is not adjusted for I(Days^2) in type 1
    assert abs(type1["f_value"].iloc[0] / reference["F"].iloc[0] - 1) > 0.5
    hypotheses = type1.attrs["hypotheses"]
    assert hypotheses["Days"][0, :2].tolist() == [0.0, 1.0]
    assert hypotheses["Days"][0, 2] != 0
    assert m.anova(type=2)["f_value"].iloc[0] == pytest.approx(reference["F"].iloc[0], rel=1e-4)


@pytest.mark.parametrize("fixed, ordered", [("recipe * temperature", False),
                                            ("C(recipe, contr.sum) * temperature", False),
                                            ("C(recipe, contr.sum) * temperature", True)])
def test_type3_does_not_depend_on_the_coding(fixed, ordered):
    reference = _type3_reference("cake_reml")
    table = cake(fixed, ordered).anova(type=3)
    assert np.allclose(table["f_value"], reference["F"], rtol=1e-4)
    assert list(table["num_df"]) == [2, 5, 10]


def test_type3_with_a_numeric_interaction_tests_at_zero():
    """As lmerTest: recipe's type 3 hypothesis is at temp = 0, so centring temp changes it."""
    raw, centred = cake("recipe * temp").anova(), cake("recipe * center(temp)").anova()
    assert raw["f_value"].iloc[0] != pytest.approx(centred["f_value"].iloc[0], rel=1e-2)
    assert raw["f_value"].iloc[1:].to_numpy() == pytest.approx(
        centred["f_value"].iloc[1:].to_numpy(), rel=1e-6)
    additive = cake("recipe + temp").anova()
    assert centred["f_value"].iloc[0] == pytest.approx(additive["f_value"].iloc[0], rel=1e-6)


@pytest.mark.parametrize("ddf", ["kenward-roger", "residual", "asymptotic"])
def test_other_ddf(ddf):
    table = fitted("cake_reml").anova(ddf=ddf)
    assert table.attrs["heading"].startswith("Type III Analysis of Variance Table with")
    assert list(table.index) == ["recipe", "temperature", "recipe:temperature"]
    expected = {"kenward-roger": [42, 210, 210], "residual": [252] * 3}
    if ddf in expected:
        assert np.allclose(table["den_df"], expected[ddf], rtol=1e-6)
    else:
        assert np.all(np.isinf(table["den_df"]))


@pytest.mark.parametrize("bad", [0, 4, "IV", 2.5, True, None])
def test_anova_type_must_be_1_2_or_3(bad):
    with pytest.raises(ValueError, match=r"anova type must be 1, 2 or 3, not"):
        fitted("cake_reml").anova(type=bad)


def test_lmmpy_anova_of_one_model_is_its_term_table():
    m = fitted("cake_numeric_reml")
    assert lmmpy.anova(m).equals(m.anova())
