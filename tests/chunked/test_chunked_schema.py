"""The schema pass: levels in the in-memory order, missing values, kinds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmmpy.chunked import FrameChunks
from lmmpy.chunked._fit import learn_schema
from lmmpy.chunked._schema import column_kind
from lmmpy.design import build_design
from lmmpy.formula import parse_formula


def _frame(seed: int = 0, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(size=n),
        "g": rng.choice(["b", "c", "a10", "a9"], size=n),
        "h": rng.choice([10, 2, 33], size=n),
        "f": pd.Categorical(rng.choice(["z", "a"], size=n), categories=["z", "m", "a"]),
    })


def _levels(formula: str, chunks: list[pd.DataFrame]):
    """(levels from chunks, levels in memory) of each term's grouping factor."""
    parsed = parse_formula(formula)
    schema = learn_schema(parsed, FrameChunks(chunks), None, None)
    design = build_design(parsed, pd.concat(chunks))
    from lmmpy.chunked._design import level_labels

    chunked = {t.group_name: list(level_labels(schema, tuple(t.group_columns)))
               for t in design.terms}
    return chunked, {t.group_name: list(t.levels) for t in design.terms}, schema


def test_string_and_number_levels_are_sorted_as_in_memory():
    data = _frame()
    chunks = [data[data["g"] != "a10"], data[data["g"] == "a10"]]   # a level in one chunk
    chunked, in_memory, _ = _levels("y ~ x + (1 | g) + (1 | h)", chunks)
    assert chunked == in_memory
    assert chunked["g"] == ["a10", "a9", "b", "c"] and chunked["h"] == ["2", "10", "33"]


def test_categories_keep_their_order_and_lose_unused_ones():
    chunked, in_memory, schema = _levels("y ~ f + (1 | g)", [_frame(1), _frame(2)])
    assert list(schema.levels["f"]) == ["z", "a"]
    assert chunked == in_memory


def test_chunks_with_different_categories_append_new_ones_in_order():
    first, second = _frame(3), _frame(4)
    first["f"] = first["f"].cat.set_categories(["z", "a"])
    second["f"] = pd.Categorical(np.where(second["f"] == "z", "q", "a"), categories=["q", "a"])
    schema = learn_schema(parse_formula("y ~ f + (1 | g)"), FrameChunks([first, second]),
                          None, None)
    assert list(schema.levels["f"]) == ["z", "a", "q"]


def test_interaction_levels_are_the_observed_combinations_in_memory_order():
    data = _frame(5, 200)
    chunks = [data.iloc[:50], data.iloc[50:120], data.iloc[120:]]
    chunked, in_memory, _ = _levels("y ~ x + (1 | g:h) + (1 | g)", chunks)
    assert chunked == in_memory and len(chunked["g:h"]) > 4


def test_missing_values_are_counted_and_their_rows_dropped():
    data = _frame(6)
    data.loc[[1, 2], "x"] = np.nan
    data.loc[[2, 5], "g"] = None
    schema = learn_schema(parse_formula("y ~ x + (1 | g)"), FrameChunks([data.iloc[:30],
                                                                        data.iloc[30:]]),
                          None, None)
    assert schema.missing["x"] == 2 and schema.missing["g"] == 2
    assert (schema.n_rows, schema.n_kept, schema.n_dropped) == (60, 57, 3)


@pytest.mark.parametrize(("dtype", "kind"), [
    ("int32", "number"), ("float64", "number"), ("bool", "bool"), ("object", "string"),
    (pd.CategoricalDtype(["a"]), "string"), (pd.CategoricalDtype([1, 2]), "number"),
    ("datetime64[ns]", "datetime"),
])
def test_column_kinds(dtype, kind):
    assert column_kind(pd.Series([], dtype=dtype).dtype) == kind
