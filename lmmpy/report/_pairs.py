"""Pairwise differences of marginal means and their multiplicity adjustments (emmeans' ``pairs``).

Within each ``by`` group the k means give the k(k − 1)/2 differences
"m_i − m_j" (i < j, in the means' order: emmeans' ``pairwise.emmc``), each
labelled with the levels of the two means.  A level of a variable whose
values all read as numbers gets the variable's name in front
("temperature175 - temperature185"), as emmeans' ``enhance.levels`` does.

p-values are adjusted within each ``by`` group (the family):

* ``"tukey"``: P(Q_{k,ν} > √2 |t|), Q the studentized range of k means on ν
  df (R's ``ptukey``; ν = ∞ for asymptotic tests) — Tukey's HSD;
* ``"holm"``, ``"bonferroni"``, ``"sidak"``: over the m contrasts of the family;
* ``"none"``: the two-sided t (or z) p-value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

ADJUSTMENTS = ("tukey", "holm", "bonferroni", "sidak", "none")


def check_adjust(adjust: str) -> str:
    """The canonical name of a p-value adjustment."""
    name = str(adjust).lower() if isinstance(adjust, str) else adjust
    if name not in ADJUSTMENTS:
        choices = ", ".join(repr(a) for a in ADJUSTMENTS)
        raise ValueError(f"unknown adjust {adjust!r}: choose one of {choices}")
    return name


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


def pairwise(means: pd.DataFrame, specs: list[str], by: list[str]
             ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The pairwise contrasts of the means within each ``by`` group.

    Returns the contrasts' labels (``contrast`` and the ``by`` columns), the
    coefficient matrix C (contrasts × means) and, per contrast, the number of
    means of its family.
    """
    labels = mean_labels(means, specs)
    groups = [np.arange(len(means))] if not by else [
        np.flatnonzero(mask) for mask in _group_masks(means, by)]
    rows, coefficients, family_size = [], [], []
    for members in groups:
        for a, i in enumerate(members):
            for j in members[a + 1:]:
                row = np.zeros(len(means))
                row[i], row[j] = 1.0, -1.0
                coefficients.append(row)
                rows.append({"contrast": f"{labels[i]} - {labels[j]}",
                             **{name: means[name].iloc[i] for name in by}})
                family_size.append(len(members))
    frame = pd.DataFrame(rows, columns=["contrast", *by])
    for name in by:
        if isinstance(means[name].dtype, pd.CategoricalDtype):
            frame[name] = pd.Categorical(frame[name], categories=means[name].cat.categories)
    return frame, np.array(coefficients).reshape(-1, len(means)), np.array(family_size)


def _group_masks(means: pd.DataFrame, by: list[str]) -> list[np.ndarray]:
    keys = means[by].astype(object).apply(tuple, axis=1)
    return [np.asarray(keys == key) for key in dict.fromkeys(keys)]


def adjusted_p_values(t: np.ndarray, df: np.ndarray, family: np.ndarray,
                      family_size: np.ndarray, adjust: str) -> np.ndarray:
    """p-values adjusted within each family (``family`` labels the contrasts' groups)."""
    raw = np.array([_two_sided(ti, di) for ti, di in zip(t, df, strict=True)])
    if adjust == "none":
        return raw
    if adjust == "tukey":
        return np.array([_tukey(ti, k, di) for ti, k, di in zip(t, family_size, df, strict=True)])
    out = np.empty_like(raw)
    for group in np.unique(family):
        members = family == group
        out[members] = _adjust_family(raw[members], adjust)
    return out


def _two_sided(t: float, df: float) -> float:
    distribution = stats.norm if np.isinf(df) else stats.t(df)
    return float(2 * distribution.sf(abs(t)))


def _tukey(t: float, k: int, df: float) -> float:
    if k < 2:
        return float("nan")
    return float(np.clip(stats.studentized_range.sf(np.sqrt(2) * abs(t), k, df), 0.0, 1.0))


def _adjust_family(p: np.ndarray, adjust: str) -> np.ndarray:
    """Adjusted p-values for m contrasts, m counting those that are not estimable (NaN), as
    emmeans passes ``n`` = the family's size to R's ``p.adjust``."""
    m = len(p)
    out = np.full(m, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    if adjust == "bonferroni":
        out[tested] = np.minimum(1.0, m * p[tested])
    elif adjust == "sidak":
        out[tested] = 1.0 - (1.0 - p[tested]) ** m
    else:  # Holm's step-down: the i-th smallest (from 0) times m - i, kept monotone
        order = tested[np.argsort(p[tested])]
        stepped = np.maximum.accumulate((m - np.arange(len(order))) * p[order])
        out[order] = np.minimum(1.0, stepped)
    return out
