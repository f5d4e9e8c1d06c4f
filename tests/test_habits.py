"""Habits from R, statsmodels and pymer4 get errors that say what to write (lmmpy._habits)."""

from __future__ import annotations

import copy
import functools
import pickle
import re

import pandas as pd
import pytest

import lmmpy
from lmmpy._habits import LMER_ARGUMENTS, MODEL_NAMES, MODULE_NAMES


@functools.cache
def model() -> lmmpy.LinearMixedModel:
    return lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))


@pytest.mark.parametrize(("name", "hint"), [
    ("VarCorr", "use m.varcorr"), ("logLik", "use m.loglik"), ("AIC", "use m.aic"),
    ("isSingular", "use m.is_singular"), ("params", "use m.fixef"),
    ("random_effects", "use m.ranef"), ("fit", "the model is fitted already"),
    ("ranef_var", "use m.varcorr"),
])
def test_r_and_statsmodels_names_on_the_model(name, hint):
    with pytest.raises(AttributeError, match=rf"^'LinearMixedModel' object has no attribute "
                                             rf"'{name}': {re.escape(hint)}"):
        getattr(model(), name)


@pytest.mark.parametrize("name", sorted(MODEL_NAMES))
def test_every_model_hint_names_something_that_exists(name):
    """Each hint's first ``m.x`` or ``lmmpy.x`` is a real attribute (no stale advice)."""
    hint = MODEL_NAMES[name]
    for target in re.findall(r"\b(m|lmmpy)\.([a-z_0-9]+)", hint):
        owner = model() if target[0] == "m" else lmmpy
        assert hasattr(owner, target[1]), (name, target)
    assert not hasattr(model(), name)


@pytest.mark.parametrize("name", sorted(MODULE_NAMES))
def test_every_module_hint_names_something_that_exists(name):
    for owner, attribute in re.findall(r"\b(m|lmmpy)\.([a-z_0-9]+)", MODULE_NAMES[name]):
        assert hasattr(model() if owner == "m" else lmmpy, attribute), (name, attribute)
    with pytest.raises(AttributeError, match=rf"^module 'lmmpy' has no attribute '{name}': "):
        getattr(lmmpy, name)


def test_other_missing_names_keep_pythons_message():
    with pytest.raises(AttributeError, match=r"^'LinearMixedModel' object has no attribute "
                                             r"'nonsense'$"):
        model().nonsense  # noqa: B018
    with pytest.raises(AttributeError, match=r"^module 'lmmpy' has no attribute 'nonsense'$"):
        lmmpy.nonsense  # noqa: B018
    assert not hasattr(model(), "VarCorr") and not hasattr(lmmpy, "ranef")


@pytest.mark.parametrize("name", ["fixef", "fixef_se", "vcov", "varcorr", "ranef", "coef",
                                  "ranef_condsd"])
def test_calling_a_property_says_it_is_one(name):
    with pytest.raises(TypeError, match=rf"^m\.{name} is a property of the fitted model, not a "
                                        rf"method: write m\.{name}, without \(\)$"):
        getattr(model(), name)()


def test_property_values_compute_as_plain_pandas():
    m = model()
    assert type(m.fixef * 2) is pd.Series and (m.fixef * 2).name == "fixef"
    assert type(m.fixef.round(1)) is pd.Series
    assert type(m.vcov @ m.vcov) is pd.DataFrame
    assert type(m.varcorr.head(2)) is pd.DataFrame
    assert isinstance(m.ranef, dict) and type(m.ranef["Subject"]) is pd.DataFrame
    assert m.fixef.equals(pd.Series(m.fixef.to_numpy(), index=m.fixef.index))


def test_a_model_with_hints_pickles_and_copies():
    m = model()
    unpickled = pickle.loads(pickle.dumps(m))
    assert unpickled.fixef.equals(m.fixef)
    with pytest.raises(TypeError, match=r"m\.fixef is a property"):
        unpickled.fixef()
    assert copy.deepcopy(m).fixef.equals(m.fixef)  # a deep copy is a plain Series


@pytest.mark.parametrize(("argument", "hint"), [
    ("REML", "use reml= (lowercase)"),
    ("groups", "write the grouping factor in the formula: 'y ~ x + (1 | g)'"),
    ("verbose", "the optimizer's path is in m.optimization"),
    ("subset", "select the rows in pandas first"),
    ("family", "use lmmpy.glmer(formula, data, family=...)"),
])
def test_r_and_statsmodels_arguments_of_lmer(argument, hint):
    with pytest.raises(TypeError, match=rf"^lmer\(\) got an unexpected keyword argument "
                                        rf"'{argument}': {re.escape(hint)}"):
        lmmpy.lmer("Reaction ~ Days + (1 | Subject)", lmmpy.datasets.load("sleepstudy"),
                   **{argument: False})


def test_a_misspelt_argument_gets_the_close_name():
    with pytest.raises(TypeError, match=r"^lmer\(\) got an unexpected keyword argument "
                                        r"'weight'; did you mean 'weights'\?$"):
        lmmpy.lmer("Reaction ~ Days + (1 | Subject)", lmmpy.datasets.load("sleepstudy"),
                   weight="Days")
    with pytest.raises(TypeError, match=r"^lmer\(\) got an unexpected keyword argument 'zzz'$"):
        lmmpy.lmer("Reaction ~ Days + (1 | Subject)", lmmpy.datasets.load("sleepstudy"), zzz=1)


def test_argument_hints_name_no_argument_lmer_takes():
    import inspect

    taken = set(inspect.signature(lmmpy.lmer).parameters)
    assert not taken & set(LMER_ARGUMENTS)
