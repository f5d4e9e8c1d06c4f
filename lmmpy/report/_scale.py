"""Marginal means of a GLMM on the response scale (emmeans' ``type = "response"``).

A GLMM's marginal means are linear functions of β̂, so they live on the link
scale η.  As emmeans does (Lenth 2016, section 3; its ``regrid``-free summary):

* a mean is back-transformed, μ = g⁻¹(η), with the delta-method standard
  error |dμ/dη| × SE(η), and its interval is the back-transformed interval of
  η (so it is not symmetric about μ); the column is named ``prob`` for a
  binomial family, ``rate`` for a Poisson one and ``response`` otherwise;
* a contrast Σ cᵢηᵢ of a log or logit link becomes a ratio exp(Σ cᵢηᵢ) —
  ``odds_ratio`` for logit, ``ratio`` for log — with SE exp(·) × SE, a ``null``
  column of 1 and labels "A / B"; its test is the link scale's.  Contrasts of
  other links stay on the link scale, as in emmeans.

Tests and df are asymptotic (z): emmeans gives glmer fits df = ∞.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TYPES = ("link", "response")
RATIO_NAMES = {"logit": "odds_ratio", "log": "ratio"}


def is_glmm(model) -> bool:
    """Whether ``model`` is a GLMM (it has a family)."""
    return hasattr(type(model), "family")


def check_type(model, type: str) -> str:
    if type not in TYPES:
        raise ValueError(f"unknown type {type!r}: choose 'link' or 'response'")
    return type


def back_transforms(model, type: str) -> bool:
    """Whether means are shown on another scale than the linear predictor's."""
    return type == "response" and is_glmm(model) and model.family.link.name != "identity"


def response_name(model) -> str:
    """emmeans' name of a back-transformed mean: prob, rate or response."""
    return {"binomial": "prob", "poisson": "rate"}.get(model.family.name, "response")


def to_response(model, frame: pd.DataFrame, estimate: str) -> pd.DataFrame:
    """``frame``'s link-scale means, SEs and intervals back-transformed (delta-method SE)."""
    link = model.family
    eta = frame[estimate].to_numpy(float)
    ends = np.column_stack([link.linkinv(frame["lower_cl"].to_numpy(float)),
                            link.linkinv(frame["upper_cl"].to_numpy(float))])
    out = frame.drop(columns=estimate)
    out.insert(list(frame.columns).index(estimate), response_name(model), link.linkinv(eta))
    out["std_error"] = frame["std_error"].to_numpy(float) * np.abs(link.mu_eta(eta))
    out["lower_cl"], out["upper_cl"] = ends.min(axis=1), ends.max(axis=1)
    return out


def ratio_name(model, type: str) -> str | None:
    """The name of a contrast shown as a ratio (odds_ratio, ratio), or None."""
    if type != "response" or not is_glmm(model):
        return None
    return RATIO_NAMES.get(model.family.link.name)


def to_ratios(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Contrasts on the log scale as ratios: exp(estimate), SE × exp(estimate), null = 1."""
    ratio = np.exp(frame["estimate"].to_numpy(float))
    out = frame.rename(columns={"estimate": name})
    out[name] = ratio
    out["std_error"] = frame["std_error"].to_numpy(float) * ratio
    if "lower_cl" in out:  # intervals of ratios: the log scale's, exponentiated
        out["lower_cl"] = np.exp(frame["lower_cl"].to_numpy(float))
        out["upper_cl"] = np.exp(frame["upper_cl"].to_numpy(float))
    last = "upper_cl" if "upper_cl" in out else "df"
    out.insert(list(out.columns).index(last) + 1, "null", 1.0)
    return out
