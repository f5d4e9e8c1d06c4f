"""The same fit in memory, from Parquet in chunks and on a 2-worker Dask LocalCluster."""

from __future__ import annotations

import numpy as np
import pytest
from chunked_helpers import (
    CROSSED,
    assert_same_fit,
    fit,
    simulated_crossed,
    split,
    write_parquet,
)
from reference import case_files, fitted, load_case, load_case_data

from lmmpy.chunked import ChunkedLinearMixedModel, FrameChunks

pytest.importorskip("pyarrow")
LMM_CASES = case_files("fit")


def _options(case: dict) -> dict:
    return {"reml": case["REML"], "weights": case["weights"], "offset": case["offset"]}


def test_frame_chunks_fit_the_in_memory_model():
    case = load_case("sleepstudy_weights_reml")
    chunked = fit(case["formula"], FrameChunks(split(load_case_data(case), 3)), **_options(case))
    assert isinstance(chunked, ChunkedLinearMixedModel)
    assert_same_fit(chunked, fitted("sleepstudy_weights_reml"))


@pytest.mark.parametrize("name", LMM_CASES)
def test_parquet_row_groups_fit_the_in_memory_model(name, tmp_path):
    case = load_case(name)
    data = load_case_data(case)
    folder = write_parquet(split(data, 2), tmp_path / name, row_group_size=len(data) // 5 + 1)
    assert_same_fit(fit(case["formula"], str(folder), **_options(case)), fitted(name))


def test_a_glob_and_a_single_file_are_parquet_sources_too(tmp_path):
    data = load_case_data(load_case("penicillin_reml"))
    folder = write_parquet(split(data, 2), tmp_path / "penicillin", row_group_size=50)
    formula = load_case("penicillin_reml")["formula"]
    from_glob = fit(formula, str(folder / "*.parquet"))
    assert_same_fit(from_glob, fitted("penicillin_reml"))
    one = write_parquet([data], tmp_path / "one", row_group_size=40) / "part-000.parquet"
    assert_same_fit(fit(formula, one), fitted("penicillin_reml"))


@pytest.mark.parametrize("name", LMM_CASES)
def test_dask_partitions_on_a_local_cluster_fit_the_in_memory_model(name, dask_client):
    import dask.dataframe as dd

    case = load_case(name)
    ddf = dd.from_pandas(load_case_data(case), npartitions=3, sort=False)
    assert_same_fit(fit(case["formula"], ddf, **_options(case)), fitted(name))


@pytest.fixture(scope="module")
def crossed_data():
    return simulated_crossed(200_000)


@pytest.fixture(scope="module")
def crossed_in_memory(crossed_data):
    return fit(CROSSED, crossed_data, reml=False)


def test_simulated_crossed_model_from_parquet(crossed_data, crossed_in_memory, tmp_path):
    folder = write_parquet(split(crossed_data, 3), tmp_path / "crossed", row_group_size=25_000)
    chunked = fit(CROSSED, str(folder), reml=False)
    assert_same_fit(chunked, crossed_in_memory)


def test_simulated_crossed_model_on_a_local_cluster(crossed_data, crossed_in_memory, tmp_path,
                                                    dask_client):
    import dask.dataframe as dd

    folder = write_parquet(split(crossed_data, 4), tmp_path / "crossed", row_group_size=50_000)
    chunked = fit(CROSSED, dd.read_parquet(str(folder / "*.parquet")), reml=False)
    assert_same_fit(chunked, crossed_in_memory)


def test_a_million_row_crossed_model_in_chunks(tmp_path, dask_client):
    import dask.dataframe as dd

    data = simulated_crossed(1_000_000, levels=(20_000, 1_000))
    in_memory = fit(CROSSED, data, reml=False)
    folder = write_parquet(split(data, 8), tmp_path / "million", row_group_size=125_000)
    assert_same_fit(fit(CROSSED, str(folder), reml=False), in_memory)
    assert_same_fit(fit(CROSSED, dd.read_parquet(str(folder / "*.parquet")), reml=False),
                    in_memory)


def test_the_loop_and_the_cluster_give_the_same_bits(tmp_path, dask_client):
    import dask.dataframe as dd

    data = load_case_data(load_case("sim_schools_reml"))
    folder = write_parquet(split(data, 4), tmp_path / "schools", row_group_size=10**6)
    formula = load_case("sim_schools_reml")["formula"]
    local = fit(formula, str(folder))
    cluster = fit(formula, dd.read_parquet(str(folder / "*.parquet")))
    assert np.array_equal(local.theta, cluster.theta)
    assert np.array_equal(local.objective.crossprods.XytXy, cluster.objective.crossprods.XytXy)
