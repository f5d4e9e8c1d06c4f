"""The models of tests/data/glmm/inference.json (tools/reference/make_glmm_inference.R),
fitted once per session."""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from reference import load_case, load_case_data

import lmmpy
from lmmpy.glmm import GeneralizedLinearMixedModel

DATA = Path(__file__).parents[1] / "data" / "glmm"
REFERENCE = json.loads((DATA / "inference.json").read_text())
MODELS = list(REFERENCE["models"])
BINOMIAL_POISSON = [name for name in MODELS
                    if REFERENCE["models"][name]["family"] in ("binomial", "poisson")]


def reference(name: str) -> dict:
    return REFERENCE["models"][name]


@functools.cache
def model_data(name: str) -> pd.DataFrame:
    source = reference(name)["data"]
    if source.startswith("case:"):
        return load_case_data(load_case(source.removeprefix("case:")))
    return pd.read_csv(DATA / f"{source}.csv")


@functools.cache
def fitted(name: str, formula: str | None = None) -> GeneralizedLinearMixedModel:
    spec = reference(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        return lmmpy.glmer(formula or spec["formula"], model_data(name), spec["family"],
                           link=spec["link"], weights=spec["weights"])


def newdata(name: str) -> pd.DataFrame:
    frame = pd.DataFrame(reference(name)["newdata"])
    data = model_data(name)
    for column in frame.columns:
        if isinstance(data[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(str)
    return frame


def r_vector(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@functools.cache
def at_lme4(name: str) -> GeneralizedLinearMixedModel:
    """Our model evaluated at lme4's (θ, β), with the Hessian there: every derived quantity
    as a function of lme4's estimates (lme4 stops short of the optimum, by ~1e-4)."""
    from dataclasses import replace

    from lmmpy.glmm._optimize import GlmmCriterion, criterion_hessian

    spec, model = reference(name), fitted(name)
    parameters = np.concatenate([np.atleast_1d(spec["theta"]), list(spec["fixef"].values())])
    criterion = GlmmCriterion(model.system, len(model.theta), model.nagq)
    hessian = criterion_hessian(criterion, parameters)
    state = criterion.at(parameters)
    return replace(model, state=state, deviance_value=criterion.value(state), hessian=hessian)
