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
        """The same blocks as HTML tables (a notebook shows ``<pre>`` text in a proportional
        font in some front ends, and its columns then do not line up)."""
        m = self.model
        parts = [_html_lines(self._header()),
                 _html_lines(self._criterion()) if m.reml else _html_table(_criterion_rows(m)),
                 "<p>Scaled residuals:</p>" + (_html_table(_scaled_residual_rows(m))
                                               if m.design.in_memory
                                               else _html_lines(CHUNKED_RESIDUALS)),
                 "<p>Random effects:</p>" + _html_table(_random_effects_rows(m))
                 + _html_lines(_group_counts(m)),
                 f"<p>{html.escape(_fixed_effects_title(self.coefficients))}</p>"
                 + _html_table(_fixed_effects_rows(self.coefficients), row_names=True)]
        correlation = _correlation_rows(m)
        if correlation:
            parts.append("<p>Correlation of Fixed Effects:</p>"
                         + _html_table(correlation, row_names=True))
        elif len(m.fixef) > _MAX_CORRELATION_P:
            parts.append(_html_lines(_correlation_block(m)))
        parts.append(_html_lines(_notes_block(m)))
        return '<div class="lmmpy-summary">' + "".join(p for p in parts if p) + "</div>"

    def _header(self) -> str:
        m = self.model
        method = "REML" if m.reml else "maximum likelihood "
        lines = [f"Linear mixed model fit by {method} ['lmerMod']", f"Formula: {m.formula}"]
        if m.data_name:
            lines.append(f"   Data: {m.data_name}")
        if m.design.weights is not None:
            lines.append("Weights: given")
        if m.logdet_standard_error is not None:
            lines.append("log|A| estimated by stochastic Lanczos quadrature: standard error "
                         f"{m.logdet_standard_error:.3g}")
        return "\n".join(lines)

    def _criterion(self) -> str:
        m = self.model
        if m.reml:
            return f"REML criterion at convergence: {m.reml_criterion:.1f}"
        header, row = _criterion_rows(m)
        width = max(len(text) for text in header + row) + 1
        return "".join(f"{name:>{width}}" for name in header) + "\n" + "".join(
            f"{text:>{width}}" for text in row)


def _criterion_rows(m: LinearMixedModel) -> list[list[str]]:
    """ML fits' AIC, BIC, logLik, deviance, df.resid: a header and a row."""
    return [["AIC", "BIC", "logLik", "deviance", "df.resid"],
            [f"{m.aic:.1f}", f"{m.bic:.1f}", f"{m.loglik:.1f}", f"{m.deviance:.1f}",
             f"{m.df_resid:d}"]]


def _coefficient_table(model: LinearMixedModel) -> pd.DataFrame:
    estimate = model.fixef
    se = model.fixef_se
    return pd.DataFrame({"Estimate": estimate, "Std. Error": se, "t value": estimate / se})


CHUNKED_RESIDUALS = ("not computed for a model fitted from chunks (they need a pass over "
                     "the rows: m.residuals)")


def _scaled_residual_rows(model: LinearMixedModel) -> list[list[str]]:
    """The quantiles of the Pearson residuals over σ̂: a header and a row."""
    residuals = model.residuals.to_numpy()
    if model.design.weights is not None:
        residuals = residuals * np.sqrt(model.design.weights)
    quantiles = np.quantile(residuals / model.sigma, [0, 0.25, 0.5, 0.75, 1])
    return [["Min", "1Q", "Median", "3Q", "Max"], [f"{q:.4f}" for q in quantiles]]


def _scaled_residual_block(model: LinearMixedModel) -> str:
    if not model.design.in_memory:
        return "Scaled residuals: " + CHUNKED_RESIDUALS
    names, cells = _scaled_residual_rows(model)
    width = max(len(c) for c in cells + names)
    return ("Scaled residuals: \n" + " ".join(f"{n:>{width}}" for n in names) + " \n"
            + " ".join(f"{c:>{width}}" for c in cells) + " ")


def _random_effects_block(model: LinearMixedModel) -> str:
    table = _align(_random_effects_rows(model), right=[False] * 5, indent=" ")
    return "Random effects:\n" + table + "\n" + _group_counts(model)


def _group_counts(model: LinearMixedModel) -> str:
    counts = "; ".join(f"{name}, {count}" for name, count in model.ngroups.items())
    return f"Number of obs: {model.nobs}, groups:  {counts}"


def _random_effects_rows(model: LinearMixedModel) -> list[list[str]]:
    """Groups, Name, Variance, Std.Dev., Corr: a header and a row per variance."""
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
    return [header, *map(list, zip(*columns, strict=True))]


def _fixed_effects_block(coefficients: pd.DataFrame) -> str:
    rows = _fixed_effects_rows(coefficients)
    return (_fixed_effects_title(coefficients) + "\n"
            + _align(rows, right=[False] + [True] * len(coefficients.columns)))


def _fixed_effects_title(coefficients: pd.DataFrame) -> str:
    method = coefficients.attrs.get("ddf_method")
    return f"Fixed effects (tests use {method}):" if method else "Fixed effects:"


def _fixed_effects_rows(coefficients: pd.DataFrame) -> list[list[str]]:
    """A header and a row per coefficient, formatted as lme4 prints them."""
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
    return rows


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
    if p > _MAX_CORRELATION_P:
        return (f"Correlation matrix not shown by default, as p = {p} > {_MAX_CORRELATION_P}.")
    rows = _correlation_rows(model)
    if not rows:
        return ""
    return "Correlation of Fixed Effects:\n" + _align(rows, right=[False] + [True] * (p - 1))


def _correlation_rows(model: LinearMixedModel) -> list[list[str]]:
    """The lower triangle of the fixed effects' correlations (none for p < 2 or p > 12)."""
    p = len(model.fixef)
    if p < 2 or p > _MAX_CORRELATION_P:
        return []
    sd = np.sqrt(np.diag(model.vcov.to_numpy()))
    corr = model.vcov.to_numpy() / np.outer(sd, sd)
    short = [_abbreviate(name) for name in model.fixef.index]
    rows = [["", *short[:-1]]]
    for i, name in enumerate(model.fixef.index[1:], start=1):
        rows.append([name, *[f"{corr[i, j]:.3f}" for j in range(i)], *[""] * (p - 1 - i)])
    return rows


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


def _html_lines(text: str) -> str:
    """Each line of ``text`` as a paragraph (empty for no text)."""
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line)


def _html_table(rows: list[list[str]], row_names: bool = False) -> str:
    """A header row and body rows as an HTML table; numbers right-aligned by the CSS
    class, the first column as row headings when ``row_names``."""
    def cell(tag: str, text: str, first: bool) -> str:
        tag = "th" if first and row_names else tag
        return f"<{tag}>{html.escape(str(text))}</{tag}>"

    head = "".join(f"<th>{html.escape(str(text))}</th>" for text in rows[0])
    body = "".join("<tr>" + "".join(cell("td", text, j == 0) for j, text in enumerate(row))
                   + "</tr>" for row in rows[1:])
    return (f'<table class="dataframe"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")
