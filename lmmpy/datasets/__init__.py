"""Bundled example data sets, read with R's factor codings.

The CSV files are the data sets lme4's reference fits were computed on.  A CSV
cannot say which columns are factors, which factors are ordered, or the order
of their levels, so this module records that (``_CATALOG``) and rebuilds the
pandas categoricals as R has them: the first level is the reference level of
the treatment contrasts, and ordered factors get polynomial contrasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pandas as pd

__all__ = ["describe", "list_datasets", "load"]


@dataclass(frozen=True)
class _Factor:
    ordered: bool = False
    levels: tuple[str, ...] | None = None  # None: numeric-aware sort, R's default


_INSTEVAL_DEPT = ("15", "5", "10", "12", "6", "7", "4", "8", "9", "14", "1", "3", "11", "2")

_VERBAGG_ITEMS = (  # R's order (and its "S4wantCurse")
    "S1WantCurse", "S1WantScold", "S1WantShout", "S2WantCurse", "S2WantScold", "S2WantShout",
    "S3WantCurse", "S3WantScold", "S3WantShout", "S4wantCurse", "S4WantScold", "S4WantShout",
    "S1DoCurse", "S1DoScold", "S1DoShout", "S2DoCurse", "S2DoScold", "S2DoShout",
    "S3DoCurse", "S3DoScold", "S3DoShout", "S4DoCurse", "S4DoScold", "S4DoShout",
)

_CATALOG: dict[str, tuple[str, dict[str, _Factor]]] = {
    "sleepstudy": (
        "Reaction times (ms) of 18 subjects over 10 days of sleep deprivation.",
        {"Subject": _Factor()},
    ),
    "Dyestuff": ("Yield of dyestuff from 6 batches of an intermediate, 5 preparations each.",
                 {"Batch": _Factor()}),
    "Dyestuff2": ("Simulated dyestuff yields with no batch-to-batch variation.",
                  {"Batch": _Factor()}),
    "Penicillin": (
        "Diameters of inhibition zones: 6 penicillin samples on 24 plates (crossed).",
        {"plate": _Factor(), "sample": _Factor()},
    ),
    "Pastes": (
        "Strength of paste: 10 delivery batches, 3 casks per batch (nested).",
        {"batch": _Factor(), "cask": _Factor(), "sample": _Factor()},
    ),
    "cake": (
        "Breakage angle of chocolate cakes: 3 recipes, 6 baking temperatures, 15 replicates.",
        {"replicate": _Factor(), "recipe": _Factor(), "temperature": _Factor(ordered=True)},
    ),
    "cbpp": (
        "Contagious bovine pleuropneumonia incidence in 15 herds over 4 periods.",
        {"herd": _Factor(), "period": _Factor()},
    ),
    "bacteria": (
        "Presence of H. influenzae (y) in 50 children with otitis media at 5 visits over "
        "11 weeks, by treatment (MASS's bacteria).",
        {"y": _Factor(), "ap": _Factor(), "hilo": _Factor(), "ID": _Factor(),
         "trt": _Factor(levels=("placebo", "drug", "drug+"))},
    ),
    "epil": (
        "Seizure counts (y) of 59 epileptics in four two-week periods, by treatment "
        "(MASS's epil; lbase, lage: centred log(base/4) and log(age)).",
        {"trt": _Factor(levels=("placebo", "progabide")), "subject": _Factor(),
         "period": _Factor()},
    ),
    "VerbAgg": (
        "Verbal aggression: 316 respondents' answers to 24 items (lme4's VerbAgg; r2 = Y when "
        "the answer was perhaps or yes).",
        {"Gender": _Factor(levels=("F", "M")), "item": _Factor(levels=_VERBAGG_ITEMS),
         "resp": _Factor(ordered=True, levels=("no", "perhaps", "yes")), "id": _Factor(),
         "btype": _Factor(levels=("curse", "scold", "shout")),
         "situ": _Factor(levels=("other", "self")), "mode": _Factor(levels=("want", "do")),
         "r2": _Factor(levels=("N", "Y"))},
    ),
    "sim_schools": (
        "Simulated pupils in classes in 40 schools: outcome y, pupil-level x, school-level z.",
        {"school": _Factor(), "class": _Factor()},
    ),
    "simpson": (
        "Simulated: 30 groups, within-group slope of x negative, between-group slope positive.",
        {"g": _Factor()},
    ),
    "InstEval": (
        "Lecture evaluations at ETH Zurich: 73,421 ratings of 1,128 lecturers by 2,972 students.",
        {
            "s": _Factor(),
            "d": _Factor(),
            "studage": _Factor(ordered=True),
            "lectage": _Factor(ordered=True),
            "service": _Factor(),
            "dept": _Factor(levels=_INSTEVAL_DEPT),
        },
    ),
}


def list_datasets() -> list[str]:
    """Names of the bundled data sets.

    Examples
    --------
    >>> "sleepstudy" in list_datasets()
    True
    """
    return sorted(_CATALOG, key=str.lower)


def describe(name: str) -> str:
    """One-line description of a bundled data set.

    Examples
    --------
    >>> describe("Dyestuff")[:8]
    'Yield of'
    """
    return _CATALOG[_canonical_name(name)][0]


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set with its factors as pandas categoricals.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets` (case-insensitive).

    Returns
    -------
    pandas.DataFrame
        Factor columns are ``pd.Categorical`` with R's level order (ordered where R
        has an ordered factor); the other columns are numeric.

    Examples
    --------
    >>> df = load("sleepstudy")
    >>> df.shape
    (180, 3)
    >>> list(df["Subject"].cat.categories[:3])
    ['308', '309', '310']
    """
    canonical = _canonical_name(name)
    factors = _CATALOG[canonical][1]
    frame = _read_csv(canonical, dtype={column: str for column in factors})
    for column, factor in factors.items():
        frame[column] = _as_factor(frame[column], factor)
    return frame


def _canonical_name(name: str) -> str:
    by_lower = {key.lower(): key for key in _CATALOG}
    if not isinstance(name, str) or name.lower() not in by_lower:
        raise ValueError(
            f"unknown data set {name!r}; bundled data sets are: {', '.join(list_datasets())}"
        )
    return by_lower[name.lower()]


def _read_csv(name: str, dtype: dict[str, type]) -> pd.DataFrame:
    folder = resources.files(__name__)
    for file_name in (f"{name}.csv", f"{name}.csv.gz"):
        path = folder / file_name
        if path.is_file():
            with resources.as_file(path) as real_path:
                return pd.read_csv(real_path, dtype=dtype)
    raise FileNotFoundError(f"data file for {name!r} is missing from the installed package")


def _as_factor(values: pd.Series, factor: _Factor) -> pd.Categorical:
    levels = factor.levels or _natural_order(values.dropna().unique())
    return pd.Categorical(values, categories=list(levels), ordered=factor.ordered)


def _natural_order(labels) -> list[str]:
    """R sorts the levels of a factor made from numbers numerically."""
    labels = [str(label) for label in labels]
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)
