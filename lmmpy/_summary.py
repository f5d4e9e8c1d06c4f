"""lme4's ``summary(merMod)`` layout, as text and as HTML for notebooks.

The blocks, in lme4's order: the fit criterion (REML criterion, or AIC, BIC,
logLik, deviance, df.resid for ML fits), scaled residuals, random effects
(variances, SDs, correlations), group counts, fixed effects, their
correlations (shown when p ≤ 12, as lme4), and notes on singular fits,
convergence, dropped rows and aliased columns.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

_MAX_CORRELATION_P = 12


class ModelSummary:
    """The printable summary of a fitted model.

    ``coefficients`` is the fixed-effects table; ``str(summary)`` gives lme4's layout.
    """

    def __init__(self, model: LinearMixedModel, coefficients: pd.DataFrame | None = None):
        self.model = model
        self.coefficients = _coefficient_table(model) if coefficients is None else coefficients

    def __str__(self) -> str:
        blocks = [
            self._header(),
            self._criterion(),
            _scaled_residual_block(self.model),
            _random_effects_block(self.model),
            _fixed_effects_block(self.coefficients),
            _correlation_block(self.model),
            _notes_block(self.model),
        ]
        return "\n\n".join(block for block in blocks if block) + "\n"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"

    def _header(self) -> str:
        m = self.model
        method = "REML" if m.reml else "maximum likelihood "
        lines = [f"Linear mixed model fit by {method} ['lmerMod']", f"Formula: {m.formula}"]
        if m.data_name:
            lines.append(f"   Data: {m.data_name}")
        if m.design.weights is not None:
            lines.append("Weights: given")
        return "\n".join(lines)

    def _criterion(self) -> str:
        m = self.model
        if m.reml:
            return f"REML criterion at convergence: {m.reml_criterion:.1f}"
        cells = {"AIC": f"{m.aic:.1f}", "BIC": f"{m.bic:.1f}", "logLik": f"{m.loglik:.1f}",
                 "deviance": f"{m.deviance:.1f}", "df.resid": f"{m.df_resid:d}"}
        width = max(len(text) for pair in cells.items() for text in pair) + 1
        header = "".join(f"{name:>{width}}" for name in cells)
        row = "".join(f"{text:>{width}}" for text in cells.values())
        return f"{header}\n{row}"


def _coefficient_table(model: LinearMixedModel) -> pd.DataFrame:
    estimate = model.fixef
    se = model.fixef_se
    return pd.DataFrame({"Estimate": estimate, "Std. Error": se, "t value": estimate / se})


def _scaled_residual_block(model: LinearMixedModel) -> str:
    residuals = model.residuals.to_numpy()
    if model.design.weights is not None:
        residuals = residuals * np.sqrt(model.design.weights)
    quantiles = np.quantile(residuals / model.sigma, [0, 0.25, 0.5, 0.75, 1])
    names = ["Min", "1Q", "Median", "3Q", "Max"]
    cells = [f"{q:.4f}" for q in quantiles]
    width = max(len(c) for c in cells + names)
    return ("Scaled residuals: \n" + " ".join(f"{n:>{width}}" for n in names) + " \n"
            + " ".join(f"{c:>{width}}" for c in cells) + " ")


def _random_effects_block(model: LinearMixedModel) -> str:
    groups, names, variances, sds, correlations = [], [], [], [], []
    for group, covariance in model.covariance_matrices().items():
        matrix = covariance.to_numpy()
        sd = np.sqrt(np.diag(matrix))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = matrix / np.outer(sd, sd)
        for i, name in enumerate(covariance.index):
            groups.append(group if i == 0 else "")
            names.append(name)
            variances.append(matrix[i, i])
            sds.append(sd[i])
            correlations.append(" ".join(f"{c:.2f}" for c in corr[i, :i]))
    groups.append("Residual")
    names.append("")
    variances.append(model.sigma**2)
    sds.append(model.sigma)
    correlations.append("")
    columns = [groups, names, _same_decimals(np.array(variances)),
               _same_decimals(np.array(sds)), correlations]
    header = ["Groups", "Name", "Variance", "Std.Dev.", "Corr"]
    rows = [header, *map(list, zip(*columns, strict=True))]
    table = _align(rows, right=[False] * 5, indent=" ")
    counts = "; ".join(f"{name}, {count}" for name, count in model.ngroups.items())
    return "Random effects:\n" + table + f"\nNumber of obs: {model.nobs}, groups:  {counts}"


def _fixed_effects_block(coefficients: pd.DataFrame) -> str:
    formatted = {column: _format_column(column, coefficients[column])
                 for column in coefficients.columns}
    joint = [c for c in ("Estimate", "Std. Error") if c in coefficients.columns]
    if joint:
        values = _same_decimals(coefficients[joint].to_numpy().T.ravel())
        for k, column in enumerate(joint):
            formatted[column] = values[k * len(coefficients):(k + 1) * len(coefficients)]
    rows = [["", *coefficients.columns]]
    rows += [[name, *(formatted[c][i] for c in coefficients.columns)]
             for i, name in enumerate(coefficients.index)]
    method = coefficients.attrs.get("ddf_method")
    title = f"Fixed effects (tests use {method}):" if method else "Fixed effects:"
    return title + "\n" + _align(rows, right=[False] + [True] * len(coefficients.columns))


def _format_column(name: str, values: pd.Series) -> list[str]:
    if name.lower().startswith("pr(") or name.lower().startswith("p"):
        return [_format_p(v) for v in values]
    if name.lower() == "df":
        return [f"{v:.2f}" for v in values]
    return _same_decimals(values.to_numpy())


def _same_decimals(values: np.ndarray, digits: int = 4) -> list[str]:
    """R's ``format(x, digits = 4)``: one number of decimals, enough for every element."""
    finite = np.abs(values[np.isfinite(values) & (values != 0)])
    if len(finite) == 0:
        return [f"{v:g}" for v in values]
    decimals = int(np.clip(np.max(digits - 1 - np.floor(np.log10(finite))), 0, 7))
    return [f"{v:.{decimals}f}" for v in values]


def _format_p(value: float) -> str:
    return "<2e-16" if value < 2e-16 else f"{value:.3g}"


def _correlation_block(model: LinearMixedModel) -> str:
    p = len(model.fixef)
    if p < 2:
        return ""
    if p > _MAX_CORRELATION_P:
        return (f"Correlation matrix not shown by default, as p = {p} > {_MAX_CORRELATION_P}.")
    sd = np.sqrt(np.diag(model.vcov.to_numpy()))
    corr = model.vcov.to_numpy() / np.outer(sd, sd)
    short = [_abbreviate(name) for name in model.fixef.index]
    rows = [["", *short[:-1]]]
    for i, name in enumerate(model.fixef.index[1:], start=1):
        rows.append([name, *[f"{corr[i, j]:.3f}" for j in range(i)], *[""] * (p - 1 - i)])
    return "Correlation of Fixed Effects:\n" + _align(rows, right=[False] + [True] * (p - 1))


def _notes_block(model: LinearMixedModel) -> str:
    notes = []
    if model.design.n_dropped:
        notes.append(f"({model.design.n_dropped} observations deleted due to missingness)")
    if model.design.aliased:
        notes.append("fixed-effect model matrix is rank deficient so dropping "
                     f"{len(model.design.aliased)} columns / coefficients: "
                     + ", ".join(model.design.aliased))
    notes.extend(model.optimization.convergence_messages)
    if model.is_singular:
        notes.append("boundary (singular) fit: see LinearMixedModel.is_singular")
    return "\n".join(notes)


def _abbreviate(name: str, length: int = 6) -> str:
    """Like R's abbreviate(): drop lower-case vowels from the end until short enough."""
    if len(name) <= length:
        return name
    chars = list(name)
    for i in range(len(chars) - 1, 0, -1):
        if len(chars) <= length:
            break
        if chars[i] in "aeiou" and chars[i - 1] != " ":
            del chars[i]
    for i in range(len(chars) - 1, 0, -1):
        if len(chars) <= length:
            break
        if chars[i].islower():
            del chars[i]
    return "".join(chars[:length])


def _align(rows: list[list[str]], right: list[bool], indent: str = "") -> str:
    widths = [max(len(str(row[j])) for row in rows) for j in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [f"{c!s:>{w}}" if r else f"{c!s:<{w}}"
                 for c, w, r in zip(row, widths, right, strict=True)]
        lines.append(indent + " ".join(cells).rstrip())
    return "\n".join(lines)
