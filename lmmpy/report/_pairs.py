"""Contrast families of marginal means (emmeans' ``pairs`` and ``contrast(method = ...)``).

Within each ``by`` group the k means m_1, …, m_k (in the means' order) give, as
emmeans' ``.emmc`` functions:

* ``"pairwise"``: m_i − m_j for i < j, labelled "A - B" (the default
  adjustment is Tukey's);
* ``"revpairwise"``: m_i − m_j for i > j, labelled "B - A" (Tukey's);
* ``"trt.vs.ctrl"``: m_i − m_ref for every i ≠ ref, labelled "B - A"
  (``ref`` the first mean unless given; ``"dunnettx"``);
* ``"eff"``: m_i − mean(m), labelled "A effect" (``"fdr"``);
* a dict ``{label: coefficients}``: Σ c_i m_i for each entry, over the k means
  of each group (no adjustment).

A level of a variable whose values all read as numbers gets the variable's
name in front ("temperature175 - temperature185"), as emmeans'
``enhance.levels`` does.  The p-value adjustments are in
:mod:`lmmpy.report._adjust`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

METHODS = ("pairwise", "revpairwise", "trt.vs.ctrl", "eff")
DEFAULT_ADJUST = {"pairwise": "tukey", "revpairwise": "tukey", "trt.vs.ctrl": "dunnettx",
                  "eff": "fdr", "custom": "none"}
DESCRIPTIONS = {"pairwise": "Pairwise differences", "revpairwise": "Pairwise differences",
                "trt.vs.ctrl": "Differences from control", "eff": "Differences from the mean",
                "custom": "Contrasts"}


@dataclass(frozen=True)
class Family:
    """The contrasts of the means: their labels (``contrast`` and the ``by`` columns), the
    coefficient matrix C (contrasts × means), each contrast's group (an integer), the number
    of means of each group, and the method's name (``"custom"`` for a dict)."""

    labels: pd.DataFrame
    C: np.ndarray
    group: np.ndarray
    n_means: list[int]
    method: str


def level_label(value) -> str:
    """A level as R prints it: 175, -1, 0.5 (not 175.0), strings as they are."""
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else f"{float(value):.15g}"
    return str(value)


def mean_labels(means: pd.DataFrame, specs: list[str]) -> list[str]:
    """Each mean's label: its levels of ``specs`` joined by spaces."""
    columns = []
    for name in specs:
        labels = [level_label(v) for v in means[name]]
        if all(_reads_as_number(label) for label in labels):
            labels = [f"{name}{label}" for label in labels]
        columns.append(labels)
    return [" ".join(parts) for parts in zip(*columns, strict=True)]


def _reads_as_number(label: str) -> bool:
    try:
        float(label)
    except ValueError:
        return False
    return True


def check_method(method) -> str | dict[str, np.ndarray]:
    """A method's name, or a dict of custom contrasts with float coefficients."""
    if isinstance(method, Mapping):
        if not method:
            raise ValueError("method= gives no contrasts")
        out = {}
        for name, coefficients in method.items():
            try:
                values = np.asarray(coefficients, dtype=float)
            except (TypeError, ValueError):
                values = np.array([np.nan])
            if values.ndim != 1 or not np.all(np.isfinite(values)):
                raise ValueError(f"contrast {name!r} must be a list of finite numbers, one per "
                                 f"mean, not {coefficients!r}")
            out[str(name)] = values
        return out
    if method not in METHODS:
        choices = ", ".join(repr(m) for m in METHODS)
        raise ValueError(f"unknown contrast method {method!r}: choose one of {choices}, or "
                         "give a dict {label: coefficients}")
    return method


def contrast_family(means: pd.DataFrame, specs: list[str], by: list[str], method,
                    ref=None, separator: str = " - ") -> Family:
    """The contrasts of ``method`` (checked by :func:`check_method`) within each ``by`` group;
    ``separator`` joins the labels of a difference (" / " for a ratio)."""
    labels = mean_labels(means, specs)
    groups = [np.arange(len(means))] if not by else [
        np.flatnonzero(mask) for mask in _group_masks(means, by)]
    rows, coefficients, group_of = [], [], []
    for g, members in enumerate(groups):
        for label, weights in _contrasts(method, [labels[i] for i in members], ref, separator):
            row = np.zeros(len(means))
            row[members] = weights
            coefficients.append(row)
            rows.append({"contrast": label, **{name: means[name].iloc[members[0]] for name in by}})
            group_of.append(g)
    frame = pd.DataFrame(rows, columns=["contrast", *by])
    for name in by:
        if isinstance(means[name].dtype, pd.CategoricalDtype):
            frame[name] = pd.Categorical(frame[name], categories=means[name].cat.categories)
    return Family(frame, np.array(coefficients).reshape(-1, len(means)), np.array(group_of),
                  [len(members) for members in groups],
                  method if isinstance(method, str) else "custom")


def _contrasts(method, labels: list[str], ref, sep: str) -> list[tuple[str, np.ndarray]]:
    """(label, coefficients over the group's k means) of each contrast."""
    k = len(labels)
    unit = np.eye(k)
    if isinstance(method, dict):
        return [(name, _custom(name, values, k)) for name, values in method.items()]
    if method == "pairwise":
        return [(f"{labels[i]}{sep}{labels[j]}", unit[i] - unit[j])
                for i in range(k) for j in range(i + 1, k)]
    if method == "revpairwise":
        return [(f"{labels[i]}{sep}{labels[j]}", unit[i] - unit[j])
                for i in range(1, k) for j in range(i)]
    if method == "trt.vs.ctrl":
        r = _reference(ref, labels)
        return [(f"{labels[i]}{sep}{labels[r]}", unit[i] - unit[r]) for i in range(k) if i != r]
    return [(f"{labels[i]} effect", unit[i] - 1.0 / k) for i in range(k)]


def _custom(name: str, values: np.ndarray, k: int) -> np.ndarray:
    if len(values) != k:
        raise ValueError(f"contrast {name!r} has {len(values)} coefficients for {k} means")
    return values


def _reference(ref, labels: list[str]) -> int:
    """``ref``: a mean's label ("A", "temperature175") or its 0-based position; default 0."""
    if ref is None:
        return 0
    if isinstance(ref, int | np.integer) and not isinstance(ref, bool):
        if not 0 <= ref < len(labels):
            raise ValueError(f"ref={ref} is not a position among the {len(labels)} means")
        return int(ref)
    if str(ref) in labels:
        return labels.index(str(ref))
    raise ValueError(f"ref={ref!r} is not one of the means: {labels}")


def _group_masks(means: pd.DataFrame, by: list[str]) -> list[np.ndarray]:
    keys = means[by].astype(object).apply(tuple, axis=1)
    return [np.asarray(keys == key) for key in dict.fromkeys(keys)]
