"""Words for the pooling comparison: the verdict paragraph, the notes, and the printed layout.

The verdict says what each test shows and no more: a significant F test
contradicts complete pooling (identical groups); a significant LRT finds
between-group variance; a significant Hausman test says the random-effects
estimates differ from the within estimates (group effects correlated with the
predictors) and points to the within–between model.  A non-significant test
is reported as not contradicting the assumption, never as proving it.
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmmpy.diagnostics._hausman import HausmanTest

_WIDTH = 88
_MAX_GROUP_ROWS = 20


@dataclass(frozen=True)
class PoolingTests:
    """The three tests, as computed (statistic, df, p) and what the words need."""

    f: tuple[float, int, float]
    lrt: tuple[float, int, float]
    hausman: HausmanTest
    hausman_names: tuple[str, ...]
    f_df_denominator: int


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _significant(p: float, alpha: float) -> bool:
    return bool(np.isfinite(p) and p < alpha)


def write_verdict(tests: PoolingTests, alpha: float) -> str:
    """The plain-language paragraph (see the module docstring)."""
    sentences = [_f_sentence(tests, alpha), _lrt_sentence(tests, alpha),
                 _hausman_sentence(tests, alpha),
                 "Whether the groups are a sample from a population (partial pooling) or are "
                 "themselves the population of interest (no pooling) is a question about the "
                 "design that these tests do not answer.",
                 f"(Significance level {alpha:g}.)"]
    return " ".join(sentences)


def _f_sentence(tests: PoolingTests, alpha: float) -> str:
    statistic, df, p = tests.f
    if not np.isfinite(statistic):
        return ("The F test of the group dummies cannot be computed (no residual degrees of "
                "freedom without pooling).")
    text = f"F({df}, {tests.f_df_denominator}) = {statistic:.2f}, {_p(p)}"
    if _significant(p, alpha):
        return (f"The group dummies are jointly significant ({text}): the groups are not "
                "identical, so complete pooling is contradicted.")
    return (f"The group dummies are not jointly significant ({text}): the data do not "
            "contradict complete pooling, though this does not show that the groups are identical.")


def _lrt_sentence(tests: PoolingTests, alpha: float) -> str:
    statistic, df, p = tests.lrt
    text = f"χ² = {statistic:.2f}, df = {df}, boundary-corrected {_p(p)}"
    if _significant(p, alpha):
        return (f"The likelihood-ratio test of the random effects ({text}) finds variation "
                "between groups: the mixed model fits better than complete pooling.")
    return (f"The likelihood-ratio test of the random effects ({text}) does not detect "
            "variation between groups beyond what chance would give.")


def _hausman_sentence(tests: PoolingTests, alpha: float) -> str:
    h = tests.hausman
    if h.df == 0 and tests.hausman_names:
        return (f"The Hausman test has nothing to test: V_FE − V_RE has no positive part for "
                f"{', '.join(tests.hausman_names)} (the mixed model's estimates carry no "
                "information beyond the within-group ones, as when the predictors do not vary "
                "between groups).")
    if h.df == 0:
        return ("The Hausman test does not apply: no individual-level coefficient is "
                "estimated both within groups and by the mixed model (the intercept, "
                "group-level predictors and coefficients with random slopes are not).")
    names = ", ".join(tests.hausman_names)
    text = f"H = {h.statistic:.2f}, df = {h.df}, {_p(h.p_value)}"
    if _significant(h.p_value, alpha):
        return (f"The Hausman test rejects ({text}): the mixed model's estimates of {names} "
                "differ from the within-group (no-pooling) estimates, which indicates that "
                "the group effects are correlated with the predictors and that the mixed "
                "model's coefficients mix within- and between-group effects; estimate them "
                "separately with the within–between model (lmmpy.within_between, "
                "y ~ x_within + x_between + (1 | g)).")
    return (f"The Hausman test does not reject ({text}): the within-group and mixed-model "
            f"estimates of {names} agree within their sampling error; this does not prove "
            "that the group effects are uncorrelated with the predictors.")


def comparison_notes(model, npd, tests: PoolingTests) -> tuple[str, ...]:
    """How the numbers were obtained, where that needs saying."""
    notes = []
    if model.reml:
        notes.append("partial: estimates and SEs from the REML fit; n_params, loglik, AIC, "
                     "BIC and the LRT from its ML refit.")
    means = [b.column for b in npd.blocks if b.sum_coded and b.column not in npd.spoiled]
    if means:
        notes.append(f"none: {', '.join(dict.fromkeys(means))} = unweighted mean of the "
                     "groups' own coefficients (sum-to-zero coding).")
    if npd.absorbed:
        notes.append(f"none: {', '.join(npd.absorbed)} not estimable — absorbed by the group "
                     "dummies and slopes (group-level predictors, or their interactions with a "
                     "random slope); their effects are part of the groups' own coefficients.")
    if npd.spoiled:
        notes.append(f"none: {', '.join(npd.spoiled)} left NaN — the groups' own values "
                     f"include the absorbed effect of {', '.join(npd.absorbed)}.")
    notes.extend(_group_notes(model, npd))
    notes.extend(_test_notes(model, tests))
    return tuple(notes)


def _group_notes(model, npd) -> list[str]:
    notes = []
    dropped = sorted({b.group for b in npd.blocks if b.start is None})
    if dropped:
        notes.append(f"group estimates: {', '.join(dropped)} has none without pooling — its "
                     "dummies lie in the span of those of a factor with more levels (nested); "
                     "that factor's own coefficients include its effects.")
    if len({b.group for b in npd.blocks if b.start is not None}) > 1:
        notes.append("group estimates: with several grouping factors each group's own "
                     "coefficient is taken at the average of the other factors' effects.")
    notes.append("shrinkage = 1 − (partial − target)/(none − target), target = the fixed-part "
                 "value (β̂ without group-level predictors); reliability = σ_b²/(σ_b² + σ²/n_j) "
                 "for scalar terms.")
    return notes


def _test_notes(model, tests: PoolingTests) -> list[str]:
    df = tests.lrt[1]
    reference = ("½χ²(0) + ½χ²(1) (one variance component; Self & Liang 1987)" if df == 1 else
                 f"χ²({df}), conservative: several variances removed at once have no simple "
                 "mixture (Self & Liang 1987; Stram & Lee 1994)")
    notes = [f"F test: F({tests.f[1]}, {tests.f_df_denominator}).",
             f"LRT: p from {reference}."]
    term_columns = {c for term in model.design.terms for c in term.columns} - {"(Intercept)"}
    slopes = [name for name in model.design.beta_names if name in term_columns]
    if tests.hausman_names:
        notes.append(f"Hausman: compares {', '.join(tests.hausman_names)}.")
    if slopes:
        notes.append(f"Hausman: {', '.join(slopes)} left out — group-specific slopes without "
                     "pooling, whose mean's OLS variance ignores the slopes' spread.")
    if not tests.hausman.positive_definite:
        notes.append(f"Hausman: V_FE − V_RE is not positive definite; inverse of its positive "
                     f"part used, df = its rank ({tests.hausman.df}).")
    return notes


# ---- printed layout ------------------------------------------------------------------
def format_text(comparison) -> str:
    blocks = [
        comparison.title,
        "Coefficients (standard errors):\n"
        + _with_errors(comparison.coefficients, comparison.std_errors).to_string(),
        "Fit (maximum likelihood):\n" + comparison.summary_table.to_string(
            float_format=lambda v: f"{v:.2f}"),
        "Tests:\n" + comparison.tests.to_string(
            formatters={"statistic": "{:.4g}".format, "p_value": "{:.4g}".format}),
        *_group_blocks(comparison.group_estimates),
        "Verdict:\n" + textwrap.fill(comparison.verdict, _WIDTH),
        "Notes:\n" + "\n".join(textwrap.fill(note, _WIDTH, initial_indent="- ",
                                             subsequent_indent="  ")
                               for note in comparison.notes),
    ]
    return "\n\n".join(blocks) + "\n"


def _with_errors(estimates: pd.DataFrame, errors: pd.DataFrame) -> pd.DataFrame:
    def cell(estimate: float, error: float) -> str:
        return "—" if not np.isfinite(estimate) else f"{estimate:.5g} ({error:.3g})"

    return pd.DataFrame({column: [cell(e, s) for e, s in zip(estimates[column], errors[column],
                                                             strict=True)]
                         for column in estimates.columns}, index=estimates.index)


def _group_tables(estimates) -> dict:
    """``group_estimates`` keyed by grouping factor (one factor's table comes bare)."""
    return estimates if isinstance(estimates, dict) else {estimates.index.name: estimates}


def _group_blocks(estimates) -> list[str]:
    tables = _group_tables(estimates)
    return [f"Group estimates ({name}):\n"
            + table.to_string(max_rows=_MAX_GROUP_ROWS, float_format=lambda v: f"{v:.4g}")
            for name, table in tables.items()]


def format_html(comparison) -> str:
    """The blocks of :func:`format_text` as HTML: tables as tables, the verdict and notes as
    paragraphs and a list (a notebook then lines the columns up in any font)."""
    def table(frame: pd.DataFrame, **options) -> str:
        return frame.to_html(classes="dataframe", border=0, **options)

    groups = _group_tables(comparison.group_estimates)
    parts = [
        "<p><b>{}</b>:{}</p>".format(*map(html.escape, comparison.title.split(":", 1))),
        "<p>Coefficients (standard errors):</p>"
        + table(_with_errors(comparison.coefficients, comparison.std_errors)),
        "<p>Fit (maximum likelihood):</p>"
        + table(comparison.summary_table, float_format=lambda v: f"{v:.2f}"),
        "<p>Tests:</p>" + table(comparison.tests, formatters={
            "statistic": "{:.4g}".format, "p_value": "{:.4g}".format}),
        *(f"<p>Group estimates ({html.escape(str(name))}):</p>"
          + table(frame, max_rows=_MAX_GROUP_ROWS, float_format=lambda v: f"{v:.4g}")
          for name, frame in groups.items()),
        f"<p>Verdict: {html.escape(comparison.verdict)}</p>",
        "<p>Notes:</p><ul>" + "".join(f"<li>{html.escape(note)}</li>"
                                      for note in comparison.notes) + "</ul>",
    ]
    return '<div class="lmmpy-pooling">' + "".join(parts) + "</div>"
