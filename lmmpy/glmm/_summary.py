"""lme4's ``summary(glmerMod)`` layout.

Header (approximation, family and link, formula, data), AIC/BIC/logLik/
deviance/df.resid (the deviance column is −2 logLik, as lme4 prints it),
scaled (Pearson) residuals, random effects, fixed effects with Wald z tests,
their correlations (p ≤ 12) and notes.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np

from lmmpy._summary import _abbreviate, _align, _same_decimals

if TYPE_CHECKING:
    from lmmpy.glmm._model import GeneralizedLinearMixedModel

_MAX_CORRELATION_P = 12


class GlmmSummary:
    """The printable summary of a fitted GLMM; ``coefficients`` is the fixed-effects table."""

    def __init__(self, model: GeneralizedLinearMixedModel):
        self.model = model
        self.coefficients = model.coefficients()

    def __str__(self) -> str:
        blocks = [self._header(), self._criterion(), self._scaled_residuals(),
                  self._random_effects(), self._fixed_effects(), self._correlations(),
                  self._notes()]
        return "\n\n".join(block for block in blocks if block) + "\n"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"

    def _header(self) -> str:
        m = self.model
        approximation = ("Laplace Approximation" if m.nagq == 1
                         else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {m.nagq}")
        lines = [f"Generalized linear mixed model fit by maximum likelihood ({approximation})"
                 " ['glmerMod']",
                 f" Family: {m.family.name}  ( {m.family.link.name} )",
                 f"Formula: {m.formula}"]
        if m.data_name:
            lines.append(f"   Data: {m.data_name}")
        return "\n".join(lines)

    def _criterion(self) -> str:
        m = self.model
        cells = {"AIC": f"{m.aic:.1f}", "BIC": f"{m.bic:.1f}", "logLik": f"{m.loglik:.1f}",
                 "deviance": f"{-2 * m.loglik:.1f}", "df.resid": f"{m.df_resid:d}"}
        width = max(len(text) for pair in cells.items() for text in pair) + 1
        return ("".join(f"{name:>{width}}" for name in cells) + "\n"
                + "".join(f"{text:>{width}}" for text in cells.values()))

    def _scaled_residuals(self) -> str:
        m = self.model
        values = m.residuals("pearson").to_numpy() / m.sigma
        cells = [f"{q:.4f}" for q in np.quantile(values, [0, 0.25, 0.5, 0.75, 1])]
        names = ["Min", "1Q", "Median", "3Q", "Max"]
        width = max(len(c) for c in cells + names)
        return ("Scaled residuals: \n" + " ".join(f"{n:>{width}}" for n in names) + " \n"
                + " ".join(f"{c:>{width}}" for c in cells) + " ")

    def _random_effects(self) -> str:
        m = self.model
        rows: list[list[str]] = []
        variances, sds = [], []
        for term, group, covariance in m._covariances():
            sd = np.sqrt(np.diag(covariance))
            with np.errstate(invalid="ignore", divide="ignore"):
                correlation = covariance / np.outer(sd, sd)
            for i, name in enumerate(term.columns):
                rows.append([group if i == 0 else "", name,
                             " ".join(f"{c:.2f}" for c in correlation[i, :i])])
                variances.append(covariance[i, i])
                sds.append(sd[i])
        if m.family.has_dispersion:
            rows.append(["Residual", "", ""])
            variances.append(m.sigma**2)
            sds.append(m.sigma)
        variance_text = _same_decimals(np.array(variances))
        sd_text = _same_decimals(np.array(sds))
        table = [[g, n, v, s, c] for (g, n, c), v, s in zip(rows, variance_text, sd_text,
                                                             strict=True)]
        header = ["Groups", "Name", "Variance", "Std.Dev."]
        if any(row[4] for row in table):
            header.append("Corr")
        table = [row[:len(header)] for row in table]
        counts = "; ".join(f"{name}, {count}" for name, count in m.ngroups.items())
        return ("Random effects:\n" + _align([header, *table], right=[False] * len(header),
                                             indent=" ")
                + f"\nNumber of obs: {m.nobs}, groups:  {counts}")

    def _fixed_effects(self) -> str:
        table = self.coefficients
        joint = _same_decimals(table[["Estimate", "Std. Error"]].to_numpy().T.ravel())
        n = len(table)
        # lme4 labels the Wald statistic "t value" for families with a scale (its p-values
        # are normal all the same)
        statistic = "t value" if self.model.family.has_dispersion else "z value"
        rows = [["", "Estimate", "Std. Error", statistic, "Pr(>|z|)", ""]]
        for i, name in enumerate(table.index):
            p = table["Pr(>|z|)"].iloc[i]
            rows.append([name, joint[i], joint[n + i], f"{table['z value'].iloc[i]:.3f}",
                         "<2e-16" if p < 2e-16 else f"{p:.3g}", _stars(p)])
        return ("Fixed effects:\n" + _align(rows, right=[False, True, True, True, True, False])
                + "\n---\nSignif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")

    def _correlations(self) -> str:
        m = self.model
        p = len(m.fixef)
        if p < 2:
            return ""
        if p > _MAX_CORRELATION_P:
            return f"Correlation matrix not shown by default, as p = {p} > {_MAX_CORRELATION_P}."
        V = m.vcov.to_numpy()
        sd = np.sqrt(np.diag(V))
        correlation = V / np.outer(sd, sd)
        names = list(m.fixef.index)
        rows = [["", *(_abbreviate(name) for name in names[:-1])]]
        for i, name in enumerate(names[1:], start=1):
            rows.append([name, *(f"{correlation[i, j]:.3f}" for j in range(i)),
                         *[""] * (p - 1 - i)])
        return "Correlation of Fixed Effects:\n" + _align(rows, right=[False] + [True] * (p - 1))

    def _notes(self) -> str:
        m = self.model
        notes = []
        if m.design.n_dropped:
            notes.append(f"({m.design.n_dropped} observations deleted due to missingness)")
        if m.is_singular:
            notes.append("boundary (singular) fit: see GeneralizedLinearMixedModel.is_singular")
        return "\n".join(notes)


def _stars(p: float) -> str:
    for bound, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < bound:
            return mark
    return ""
