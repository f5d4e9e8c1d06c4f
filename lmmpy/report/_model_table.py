"""Models side by side: the regression table of a report (R's modelsummary, texreg).

One column per model; the rows, top to bottom:

* each fixed effect's estimate (with significance stars if asked), and under
  it its standard error in parentheses or its confidence interval in
  brackets — a coefficient a model does not have is left blank;
* the random-effect SDs and correlations per grouping factor
  (``SD (Intercept) | Subject``, ``Cor (Intercept), Days | Subject``) and the
  residual SD (``SD (Observations)``);
* the number of observations, of groups per grouping factor, the estimation
  criterion, log-likelihood, AIC and BIC.

The numbers come from each model's :func:`~lmmpy.report.tidy` and
:func:`~lmmpy.report.glance`, so the table agrees with them by construction.
LaTeX and HTML are written by pandas' Styler (the ``report`` extra: jinja2);
Markdown and the plain text need nothing.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

STARS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))
UNCERTAINTIES = ("se", "ci", "none")


@dataclass(frozen=True)
class ModelTable:
    """A side-by-side table of fitted models; make one with :func:`model_table`.

    Attributes
    ----------
    frame : DataFrame
        The formatted cells (strings), one column per model, indexed by row label
        (the uncertainty rows under an estimate have an empty label).
    sections : tuple of (str, int)
        Each section's name and its number of rows: ``"fixed"``, ``"random"``,
        ``"fit"``.
    note : str
        What the stars and the numbers under the estimates mean.
    """

    frame: pd.DataFrame
    sections: tuple[tuple[str, int], ...]
    note: str

    def __str__(self) -> str:
        return self.frame.to_string() + (f"\n{self.note}" if self.note else "")

    __repr__ = __str__

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown (pipe) table, the note below it."""
        header = ["", *(_markdown_escape(str(name)) for name in self.frame.columns)]
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join([":---", *[" ---: "] * len(self.frame.columns)]) + "|"]
        for label, row in zip(self.frame.index, self.frame.to_numpy(), strict=True):
            cells = [_markdown_escape(str(label)), *(_markdown_escape(c) for c in row)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + (f"\n\n{self.note}" if self.note else "") + "\n"

    def to_latex(self) -> str:
        """A LaTeX ``tabular`` (booktabs rules between the sections), the note as a last row."""
        styler = self._styler().format(_latex_escape)
        styler = styler.format_index(_latex_escape, axis=0).format_index(_latex_escape, axis=1)
        text = styler.to_latex(hrules=True, column_format="l" + "r" * len(self.frame.columns))
        return _latex_section_rules(text, self.sections, _latex_escape(self.note),
                                    len(self.frame.columns))

    def to_html(self) -> str:
        """An HTML table (pandas' Styler), the note as a caption."""
        styler = self._styler()
        if self.note:
            styler = styler.set_caption(html.escape(self.note))
        return styler.to_html()

    def _repr_html_(self) -> str:
        return self.to_html()

    def _styler(self):
        try:
            import jinja2  # noqa: F401  (pandas' Styler needs it)
        except ImportError as error:
            raise ImportError("LaTeX and HTML tables need jinja2: pip install 'lmmpy[report]'"
                              ) from error
        return self.frame.style


def model_table(models: Sequence, names: Sequence[str] | None = None, *,
                uncertainty: str = "se", stars: bool = False, conf_level: float = 0.95,
                ddf: str = "satterthwaite", digits: int = 3) -> ModelTable:
    """Fitted models side by side, as the regression table of a report.

    Parameters
    ----------
    models : sequence of fitted models
    names : sequence of str, optional
        Column headings; default ``(1)``, ``(2)``, …
    uncertainty : {"se", "ci", "none"}, default "se"
        Under each estimate: its standard error ``(0.123)``, its Wald interval
        ``[0.1, 0.3]`` (t with the test's df) or nothing.
    stars : bool, default False
        Mark estimates with p < 0.05, 0.01, 0.001 (``*``, ``**``, ``***``).
    conf_level : float, default 0.95
    ddf : str, default "satterthwaite"
        Denominator df of the tests and intervals (see :func:`lmmpy.report.tidy`).
    digits : int, default 3
        Decimals of every number.

    Returns
    -------
    ModelTable
        ``str()`` for text, ``to_markdown()``, ``to_latex()``, ``to_html()``; a
        notebook shows the HTML.

    Examples
    --------
    >>> import lmmpy
    >>> sleep = lmmpy.datasets.load("sleepstudy")
    >>> m0 = lmmpy.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    >>> m1 = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    >>> table = model_table([m0, m1], names=["intercept", "slope"])
    >>> table.frame.loc["Days"].tolist()
    ['10.467', '10.467']
    >>> table.frame.index[3], table.frame.iloc[3].tolist()   # Days' standard errors
    ('', ['(0.804)', '(1.546)'])
    """
    _check_choice("uncertainty", uncertainty, UNCERTAINTIES)
    models = list(models)
    if not models:
        raise ValueError("model_table needs at least one fitted model")
    names = _column_names(models, names)
    tidies = [m.tidy(conf_int=uncertainty == "ci", conf_level=conf_level, ddf=ddf)
              for m in models]
    if all(getattr(m, "nagq", None) is not None for m in models):
        ddf = "asymptotic"   # GLMMs: Wald z
    fmt = f"{{:.{digits}f}}"
    fixed = _fixed_rows(tidies, uncertainty, stars, fmt)
    random = _random_rows(tidies, fmt)
    fit = _fit_rows(models, fmt)
    rows = [*fixed, *random, *fit]
    frame = pd.DataFrame([cells for _, cells in rows], index=[label for label, _ in rows],
                         columns=names)
    sections = (("fixed", len(fixed)), ("random", len(random)), ("fit", len(fit)))
    return ModelTable(frame, sections, _note(uncertainty, stars, conf_level, ddf))


def _fixed_rows(tidies, uncertainty, stars, fmt) -> list[tuple[str, list[str]]]:
    fixed = [t[t["effect"] == "fixed"].set_index("term") for t in tidies]
    terms = list(dict.fromkeys(term for table in fixed for term in table.index))
    rows = []
    for term in terms:
        estimates, spreads = [], []
        for table in fixed:
            if term not in table.index:
                estimates.append("")
                spreads.append("")
                continue
            row = table.loc[term]
            mark = _stars(row["p_value"]) if stars else ""
            estimates.append(fmt.format(row["estimate"]) + mark)
            spreads.append(_spread(row, uncertainty, fmt))
        rows.append((term, estimates))
        if uncertainty != "none":
            rows.append(("", spreads))
    return rows


def _spread(row: pd.Series, uncertainty: str, fmt: str) -> str:
    if uncertainty == "none":
        return ""
    if uncertainty == "se":
        return f"({fmt.format(row['std_error'])})"
    return f"[{fmt.format(row['conf_low'])}, {fmt.format(row['conf_high'])}]"


def _random_rows(tidies, fmt) -> list[tuple[str, list[str]]]:
    labelled = [_random_labels(t[t["effect"] == "ran_pars"]) for t in tidies]
    labels = list(dict.fromkeys(label for series in labelled for label in series.index))
    labels.sort(key=lambda label: label == "SD (Observations)")  # the residual last
    return [(label, [fmt.format(series[label]) if label in series.index else ""
                     for series in labelled]) for label in labels]


def _random_labels(ran_pars: pd.DataFrame) -> pd.Series:
    """``SD (Intercept) | Subject``, ``Cor (Intercept), Days | Subject``, ``SD (Observations)``."""
    labels = []
    for group, term in zip(ran_pars["group"], ran_pars["term"], strict=True):
        if group == "Residual":
            labels.append("SD (Observations)")
        elif term.startswith("sd__"):
            labels.append(f"SD {term[4:]} | {group}")
        else:
            first, _, second = _split_correlation(term[5:])
            labels.append(f"Cor {first}, {second} | {group}")
    return pd.Series(ran_pars["estimate"].to_numpy(), index=labels)


def _split_correlation(pair: str) -> tuple[str, str, str]:
    """``(Intercept).Days`` → ``(Intercept)``, ``Days`` (a name may itself contain dots)."""
    depth = 0
    for i, char in enumerate(pair):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "." and depth == 0 and i > 0:
            return pair[:i], ".", pair[i + 1:]
    return pair, ".", ""


def _fit_rows(models, fmt) -> list[tuple[str, list[str]]]:
    groups = list(dict.fromkeys(g for m in models for g in m.ngroups))
    rows = [("N", [str(m.nobs) for m in models])]
    rows += [(f"Groups: {g}", [str(m.ngroups[g]) if g in m.ngroups else "" for m in models])
             for g in groups]
    rows.append(("Estimation", [_estimation(m) for m in models]))
    for label, attribute in (("Log-likelihood", "loglik"), ("AIC", "aic"), ("BIC", "bic")):
        rows.append((label, [fmt.format(getattr(m, attribute)) for m in models]))
    return rows


def _estimation(model) -> str:
    """REML / ML, or for a GLMM its approximation: ML (Laplace), ML (AGQ 25), ML (nAGQ = 0)."""
    nagq = getattr(model, "nagq", None)
    if nagq is None:
        return "REML" if getattr(model, "reml", False) else "ML"
    return {0: "ML (nAGQ = 0)", 1: "ML (Laplace)"}.get(nagq, f"ML (AGQ {nagq})")


def _note(uncertainty, stars, level, ddf) -> str:
    parts = []
    if uncertainty == "se":
        parts.append("Standard errors in parentheses.")
    elif uncertainty == "ci":
        parts.append(f"{level:.0%} Wald intervals in brackets ({ddf} df).")
    if stars:
        tests = "z tests" if ddf == "asymptotic" else f"t tests, {ddf} df"
        parts.append(f"* p < 0.05, ** p < 0.01, *** p < 0.001 ({tests}).")
    return " ".join(parts)


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return next((mark for threshold, mark in STARS if p < threshold), "")


def _column_names(models, names) -> list[str]:
    if names is None:
        return [f"({i + 1})" for i in range(len(models))]
    names = [str(name) for name in names]
    if len(names) != len(models):
        raise ValueError(f"names has {len(names)} entries for {len(models)} models")
    if len(set(names)) != len(names):
        raise ValueError(f"names must be distinct, not {names}")
    return names


def _check_choice(argument: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{argument} must be one of {choices}, not {value!r}")


def _latex_escape(text) -> str:
    text = str(text)
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char)
    return text.replace("|", "\\textbar{}").replace("~", "\\textasciitilde{}")


def _markdown_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _latex_section_rules(text: str, sections, note: str, n_columns: int) -> str:
    """A \\midrule between the sections (fixed, random, fit) and the note under the table."""
    lines = text.splitlines()
    body_start = next(i for i, line in enumerate(lines) if line.strip() == "\\midrule") + 1
    offset = body_start
    inserts = []
    for _, count in sections[:-1]:
        offset += count
        inserts.append(offset)
    for position in reversed(inserts):
        lines.insert(position, "\\midrule")
    if note:
        end = next(i for i in range(len(lines) - 1, -1, -1) if lines[i].strip() == "\\bottomrule")
        lines.insert(end + 1, f"\\multicolumn{{{n_columns + 1}}}{{l}}{{\\footnotesize {note}}} \\\\")
    return "\n".join(lines) + "\n"
