"""Checks that need every row, made on the schema and the summed products: the same
messages as in memory."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from chunked_helpers import assert_same_fit, fit, split, write_parquet

import lmmpy
from lmmpy.chunked import FrameChunks


@pytest.fixture
def sleep():
    return lmmpy.datasets.load("sleepstudy")


def _same_error(formula, data, parts=3, **options):
    """The in-memory error, raised alike (type and message) from chunks."""
    with pytest.raises((ValueError, TypeError)) as in_memory:
        fit(formula, data, **options)
    with pytest.raises(in_memory.type, match=re.escape(str(in_memory.value))):
        fit(formula, FrameChunks(split(data, parts)), **options)


def test_aliased_columns_are_dropped_from_the_summed_products(sleep):
    data = sleep.assign(Days2=2.0 * sleep["Days"] + 1.0)
    formula = "Reaction ~ Days + Days2 + (1 | Subject)"
    with pytest.warns(lmmpy.RankDeficiencyWarning) as in_memory_warning:
        in_memory = lmmpy.lmer(formula, data)
    with pytest.warns(lmmpy.RankDeficiencyWarning) as chunked_warning:
        chunked = lmmpy.lmer(formula, FrameChunks(split(data, 4)))
    assert str(chunked_warning[0].message) == str(in_memory_warning[0].message)
    assert chunked.design.aliased == in_memory.design.aliased == ("Days2",)
    assert_same_fit(chunked, in_memory)


def test_an_empty_cell_of_an_interaction_is_aliased_as_in_memory():
    cake = lmmpy.datasets.load("cake")
    data = cake[~((cake["recipe"] == "C") & (cake["temperature"] == "225"))].copy()
    data["temperature"] = data["temperature"].astype(str)
    data["recipe"] = data["recipe"].astype(str)
    formula = "angle ~ recipe * temperature + (1 | replicate)"
    in_memory = fit(formula, data)
    chunked = fit(formula, FrameChunks(split(data.sample(frac=1, random_state=2), 5)))
    assert chunked.design.aliased == in_memory.design.aliased != ()
    assert_same_fit(chunked, in_memory)


def test_a_constant_predictor(sleep):
    _same_error("Reaction ~ Days + k + (1 | Subject)", sleep.assign(k=3.0))


def test_a_factor_with_one_level(sleep):
    _same_error("Reaction ~ Days + k + (1 | Subject)", sleep.assign(k="a"))


def test_a_predictor_constant_in_each_chunk_but_not_overall(sleep):
    data = sleep.assign(k=np.repeat([1.0, 2.0, 3.0], 60))
    assert_same_fit(fit("Reaction ~ Days + k + (1 | Subject)", FrameChunks(split(data, 3))),
                    fit("Reaction ~ Days + k + (1 | Subject)", data))


def test_a_grouping_factor_with_a_level_per_row(sleep):
    _same_error("Reaction ~ Days + (1 | row)", sleep.assign(row=np.arange(len(sleep))))


def test_a_grouping_factor_with_one_level(sleep):
    _same_error("Reaction ~ Days + (1 | one)", sleep.assign(one="a"))


def test_more_random_effects_than_observations(sleep):
    small = sleep.groupby("Subject", observed=True).head(2)
    _same_error("Reaction ~ 1 + (Days | Subject)", small, parts=2)


def test_a_response_the_fixed_effects_fit_exactly(sleep):
    _same_error("y ~ Days + (1 | Subject)", sleep.assign(y=2.0 * sleep["Days"] + 1.0))


def test_a_constant_response(sleep):
    with pytest.raises(ValueError, match="fitted exactly by the fixed effects"):
        fit("y ~ Days + (1 | Subject)", FrameChunks(split(sleep.assign(y=4.0), 2)))


def test_a_response_equal_to_the_offset(sleep):
    data = sleep.assign(o=sleep["Reaction"])
    with pytest.raises(ValueError, match="equals the offset in every row"):
        fit("Reaction ~ Days + (1 | Subject)", FrameChunks(split(data, 2)), offset="o")


def test_a_missing_column(sleep):
    _same_error("Reaction ~ Dayz + (1 | Subject)", sleep)


def test_no_rows_left(sleep):
    _same_error("y ~ Days + (1 | Subject)", sleep.assign(y=np.nan))


def test_weights_must_name_a_column(sleep):
    with pytest.raises(TypeError, match="weights must name a column when the data are in "
                                        "chunks"):
        fit("Reaction ~ Days + (1 | Subject)", FrameChunks([sleep]), weights=np.ones(180))


def test_a_transform_that_learns_from_the_data_is_refused(sleep):
    with pytest.raises(ValueError, match="learns from the data"):
        fit("Reaction ~ center(Days) + (1 | Subject)", FrameChunks(split(sleep, 2)))


def test_a_location_without_parquet_files(tmp_path):
    with pytest.raises(ValueError, match="no Parquet files at"):
        fit("y ~ 1 + (1 | g)", str(tmp_path / "nothing" / "*.parquet"))


def test_a_file_that_is_not_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_text("y,g\n1,a\n")
    pytest.importorskip("pyarrow")
    with pytest.raises(ValueError, match="is not a Parquet file that pyarrow can read"):
        fit("y ~ 1 + (1 | g)", str(path))


def test_a_column_missing_from_one_file(sleep, tmp_path):
    pytest.importorskip("pyarrow")
    folder = write_parquet([sleep.iloc[:90], sleep.iloc[90:].drop(columns="Days")],
                           tmp_path / "cols", row_group_size=50)
    with pytest.raises(ValueError, match=r"column 'Days' is not in .*part-001\.parquet"):
        fit("Reaction ~ Days + (1 | Subject)", str(folder))


def test_bad_values_in_a_chunk_name_the_chunk(sleep):
    data = sleep.assign(w=1.0)
    data.loc[data.index[150], "w"] = -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"chunk 2: weights must not be negative"):
            fit("Reaction ~ Days + (1 | Subject)", FrameChunks(split(data, 3)), weights="w")
