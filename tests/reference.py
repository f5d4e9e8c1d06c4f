"""Read the lme4 reference cases (tests/data/cases, tests/data/extra_cases) and map lme4 names.

lme4 names coefficients as R's model.matrix does (``recipeB``,
``temperature.L``, ``temperature^4``, ``service1``); lmmpy uses formulaic's
names (``recipe[T.B]``, ``temperature[.L]``, ``temperature[^4]``,
``service[T.1]``, ``Machine[A]``).  ``lme4_style`` writes ours as R would.
"""

from __future__ import annotations

import functools
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import lmmpy
from lmmpy.results import LinearMixedModel

DATA = Path(__file__).parent / "data"
CASE_FOLDERS = [DATA / "cases", DATA / "extra_cases"]

# A lower objective by more than this is a better optimum, not rounding: the
# objective's own noise (cancellation in [X y]'W[X y] − B'A⁻¹B) is ~1e-11.
STRICTLY_BETTER = 1e-8


def case_files(kind: str = "fit", family: bool = False) -> list[str]:
    names = []
    for folder in CASE_FOLDERS:
        for path in sorted(folder.glob("*.json")):
            case = json.loads(path.read_text())
            if case.get("kind") == kind and (kind != "fit" or (case["family"] is None) != family):
                names.append(path.stem)
    return names


@functools.cache
def load_case(name: str) -> dict:
    for folder in CASE_FOLDERS:
        path = folder / f"{name}.json"
        if path.exists():
            return json.loads(path.read_text())
    raise FileNotFoundError(name)


def load_case_data(case: dict) -> pd.DataFrame:
    """The case's data set, with its factor columns as R has them."""
    from lmmpy import datasets

    if case["dataset"].lower() in {d.lower() for d in datasets.list_datasets()}:
        return datasets.load(case["dataset"])
    frame = pd.read_csv(DATA / "extra_datasets" / case["data_file"])
    for column, factor in case["factors"].items():
        labels = frame[column].astype("string").astype(object).where(frame[column].notna())
        frame[column] = pd.Categorical(labels, categories=factor["levels"],
                                       ordered=factor["ordered"])
    return frame


def lme4_style(name: str) -> str:
    """Our (formulaic) coefficient name written as R writes it: ``recipe[T.B]`` → ``recipeB``."""
    name = name.replace(" ** ", "^")
    return re.sub(r"\[(?:T\.)?([^\]]*)\]", r"\1", name)


def lme4_names(names) -> list[str]:
    return [lme4_style(str(name)) for name in names]


def reml_cases_with(key: str) -> list[str]:
    """REML lmer cases that carry ``key`` (``satterthwaite``, ``kenward_roger``, ...)."""
    return [name for name in case_files("fit")
            if load_case(name)["REML"] and load_case(name).get(key)]


def case_design(name: str):
    """(case, design) of a reference case: its formula, data, weights and offset."""
    from lmmpy.design import build_design
    from lmmpy.formula import parse_formula

    case = load_case(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        design = build_design(parse_formula(case["formula"]), load_case_data(case),
                              weights=case["weights"], offset=case["offset"])
    return case, design


@functools.cache
def fitted(name: str) -> LinearMixedModel:
    """Our fit of a reference case (made once per test session)."""
    case = load_case(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        return lmmpy.lmer(case["formula"], load_case_data(case), reml=case["REML"],
                          weights=case["weights"], offset=case["offset"])


@functools.cache
def at_lme4_theta(name: str) -> LinearMixedModel:
    """Our model evaluated at lme4's θ: checks every derived quantity as a function of θ."""
    m = fitted(name)
    theta = np.array(list(load_case(name)["theta"].values()))
    return LinearMixedModel(m.design, m.objective, m.optimization, m.objective.solve(theta),
                            m.reml, m.data_name)


def models(name: str) -> list[LinearMixedModel]:
    """The models to hold to lme4's digits: at lme4's θ, and our fit unless ours is better.

    Where our optimum is strictly better than lme4's (a lower objective, proven in
    test_fit_reference.test_optimum_not_worse_than_lme4), it is another point on a
    flat surface and only the model at lme4's θ is held to lme4's digits.
    """
    ours, theirs = fitted(name), at_lme4_theta(name)
    if ours.solution.deviance < theirs.solution.deviance - STRICTLY_BETTER:
        return [theirs]
    return [theirs, ours]
