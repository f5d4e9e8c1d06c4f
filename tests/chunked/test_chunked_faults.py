"""Faults of chunked data: lone levels, empty chunks, types that differ, a worker lost."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from chunked_helpers import assert_same_fit, fit, split, write_parquet
from reference import fitted, load_case, load_case_data

import lmmpy
from lmmpy.chunked import FrameChunks

pytest.importorskip("pyarrow")
SLEEP = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture
def sleep():
    return lmmpy.datasets.load("sleepstudy")


def _lone_levels(sleep: pd.DataFrame) -> pd.DataFrame:
    """sleepstudy with a shift factor whose level 'late' is in the last 10 rows only."""
    data = sleep.copy()
    data["shift"] = np.where(np.arange(len(data)) >= len(data) - 10, "late", "day")
    data.loc[data.index[:20], "shift"] = "early"
    return data


def test_a_level_that_only_one_chunk_has(sleep, tmp_path):
    data = _lone_levels(sleep)
    formula = "Reaction ~ Days + shift + (Days | Subject)"
    in_memory = fit(formula, data)
    ordered = data.sort_values("Subject", kind="stable")   # each Subject in one chunk only
    assert_same_fit(fit(formula, FrameChunks(split(ordered, 6))), in_memory)
    folder = write_parquet(split(ordered, 3), tmp_path / "lone", row_group_size=30)
    chunked = fit(formula, str(folder))
    assert_same_fit(chunked, in_memory)
    assert list(chunked.ranef["Subject"].index) == list(in_memory.ranef["Subject"].index)


def test_empty_chunks_and_chunks_left_empty_by_missing_values(sleep, tmp_path):
    data = sleep.copy()
    data["Reaction"] = data["Reaction"].astype(float)
    data.loc[data.index[60:90], "Reaction"] = np.nan     # the second chunk: every row dropped
    in_memory = fit(SLEEP, data)
    parts = [data.iloc[:60], data.iloc[60:90], data.iloc[:0], data.iloc[90:]]
    assert_same_fit(fit(SLEEP, FrameChunks(parts)), in_memory)
    folder = write_parquet(parts, tmp_path / "empty", row_group_size=25)
    chunked = fit(SLEEP, str(folder))
    assert_same_fit(chunked, in_memory)
    assert chunked.design.n_dropped == in_memory.design.n_dropped == 30
    assert len(chunked.residuals) == in_memory.nobs


def test_an_empty_dask_partition(sleep, dask_client):
    import dask.dataframe as dd
    from dask import delayed

    parts = [sleep.iloc[:70], sleep.iloc[:0], sleep.iloc[70:]]
    ddf = dd.from_delayed([delayed(part) for part in parts], meta=sleep.iloc[:0])
    assert_same_fit(fit(SLEEP, ddf), fitted("sleepstudy_slope_reml"))


def test_a_column_of_another_type_in_one_file_names_the_file_and_column(sleep, tmp_path):
    first, second = sleep.iloc[:90].copy(), sleep.iloc[90:].copy()
    second["Days"] = second["Days"].astype(str)
    folder = write_parquet([first, second], tmp_path / "types", row_group_size=50)
    with pytest.raises(TypeError, match=r"column 'Days' is \w*string in .*part-001\.parquet but "
                                        r"int64 in .*part-000\.parquet"):
        fit(SLEEP, str(folder))


def test_a_column_of_another_kind_in_one_chunk_names_both(sleep):
    first, second = sleep.iloc[:90].copy(), sleep.iloc[90:].copy()
    second["Subject"] = second["Subject"].astype(str).astype(object)
    second["Subject"] = pd.to_numeric(second["Subject"])
    with pytest.raises(TypeError, match=r"column 'Subject' holds string values in chunk 0 "
                                        r"but number values in chunk 1"):
        fit(SLEEP, FrameChunks([first, second]))


def test_integer_and_float_columns_are_one_kind(sleep, tmp_path):
    first, second = sleep.iloc[:90].copy(), sleep.iloc[90:].copy()
    second["Days"] = second["Days"].astype("int32")
    first["Days"] = first["Days"].astype(float)
    folder = write_parquet([first, second], tmp_path / "widths", row_group_size=50)
    assert_same_fit(fit(SLEEP, str(folder)), fitted("sleepstudy_slope_reml"))


def test_a_worker_lost_and_its_task_retried_changes_nothing(tmp_path, dask_client):
    import dask.dataframe as dd

    case = load_case("sim_schools_reml")
    data = load_case_data(case)
    ddf = dd.from_pandas(data, npartitions=4, sort=False)
    marker = str(tmp_path / "killed")

    def die_once(frame: pd.DataFrame) -> pd.DataFrame:
        if len(frame) and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)   # the worker process dies; its nanny starts another
        return frame

    clean = fit(case["formula"], ddf)
    retried = fit(case["formula"], ddf.map_partitions(die_once, meta=data.iloc[:0]))
    assert os.path.exists(marker)
    assert np.array_equal(retried.theta, clean.theta)
    assert np.array_equal(retried.fixef.to_numpy(), clean.fixef.to_numpy())
    assert retried.loglik == clean.loglik
