"""Read the lme4 reference cases (tests/data/cases, tests/data/extra_cases) and map lme4 names.

lme4 names coefficients as R's model.matrix does (``recipeB``,
``temperature.L``, ``temperature^4``, ``service1``); lmmpy uses formulaic's
names (``recipe[T.B]``, ``temperature[.L]``, ``temperature[^4]``,
``service[T.1]``, ``Machine[A]``).  ``lme4_style`` writes ours as R would.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pandas as pd

DATA = Path(__file__).parent / "data"
CASE_FOLDERS = [DATA / "cases", DATA / "extra_cases"]


def case_files(kind: str = "fit", family: bool = False) -> list[str]:
    names = []
    for folder in CASE_FOLDERS:
        for path in sorted(folder.glob("*.json")):
            case = json.loads(path.read_text())
            if case.get("kind") == kind and (kind != "fit" or (case["family"] is None) != family):
                names.append(path.stem)
    return names


@functools.cache
def load_case(name: str) -> dict:
    for folder in CASE_FOLDERS:
        path = folder / f"{name}.json"
        if path.exists():
            return json.loads(path.read_text())
    raise FileNotFoundError(name)


def load_case_data(case: dict) -> pd.DataFrame:
    """The case's data set, with its factor columns as R has them."""
    from lmmpy import datasets

    if case["dataset"].lower() in {d.lower() for d in datasets.list_datasets()}:
        return datasets.load(case["dataset"])
    frame = pd.read_csv(DATA / "extra_datasets" / case["data_file"])
    for column, factor in case["factors"].items():
        labels = frame[column].astype("string").astype(object).where(frame[column].notna())
        frame[column] = pd.Categorical(labels, categories=factor["levels"],
                                       ordered=factor["ordered"])
    return frame


def lme4_style(name: str) -> str:
    """Our (formulaic) coefficient name written as R writes it: ``recipe[T.B]`` → ``recipeB``."""
    name = name.replace(" ** ", "^")
    return re.sub(r"\[(?:T\.)?([^\]]*)\]", r"\1", name)


def lme4_names(names) -> list[str]:
    return [lme4_style(str(name)) for name in names]
