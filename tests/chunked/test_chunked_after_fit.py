"""After a fit from chunks: row-wise values by chunk (lazy for Dask), inference from the
products, and a clear error for what needs the rows in memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from chunked_helpers import fit, split, write_parquet

import lmmpy
from lmmpy.chunked import FrameChunks, InMemoryDataError

SLEEP = "Reaction ~ Days + (Days | Subject)"
pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def sleep():
    data = lmmpy.datasets.load("sleepstudy")
    data["Reaction"] = data["Reaction"].astype(float)
    data.loc[data.index[[3, 77]], "Reaction"] = np.nan   # two rows dropped
    return data


@pytest.fixture(scope="module")
def in_memory(sleep):
    return fit(SLEEP, sleep)


@pytest.fixture(scope="module")
def from_parquet(sleep, tmp_path_factory):
    folder = write_parquet(split(sleep, 3), tmp_path_factory.mktemp("sleep"), row_group_size=25)
    return fit(SLEEP, str(folder))


@pytest.fixture(scope="module")
def ddf(sleep):
    import dask.dataframe as dd

    return dd.from_pandas(sleep, npartitions=3, sort=False)


def test_fitted_and_residuals_from_parquet_are_pandas(from_parquet, in_memory):
    for chunked, expected in ((from_parquet.fitted, in_memory.fitted),
                              (from_parquet.residuals, in_memory.residuals)):
        assert isinstance(chunked, pd.Series) and chunked.name == expected.name
        assert list(chunked.index) == list(expected.index)
        np.testing.assert_allclose(chunked.to_numpy(), expected.to_numpy(), rtol=1e-10)


def test_fitted_residuals_and_predictions_on_dask_are_lazy(ddf, in_memory, dask_client):
    import dask.dataframe as dd

    model = fit(SLEEP, ddf)
    for lazy, expected in ((model.fitted, in_memory.fitted),
                           (model.residuals, in_memory.residuals),
                           (model.predict(), in_memory.fitted)):
        assert isinstance(lazy, dd.Series)
        computed = lazy.compute()
        assert list(computed.index) == list(expected.index)
        np.testing.assert_allclose(computed.to_numpy(), expected.to_numpy(), rtol=1e-10)
    population = model.predict(ddf, re_form=False)
    assert isinstance(population, dd.Series)
    np.testing.assert_allclose(population.compute().to_numpy(),
                               in_memory.predict(ddf.compute(), re_form=False).to_numpy(),
                               rtol=1e-10)


def test_predictions_on_pandas_newdata_as_in_memory(from_parquet, in_memory):
    new = pd.DataFrame({"Days": [1.0, 4.0], "Subject": ["308", "NEW"]})
    for options in ({"allow_new_levels": True}, {"re_form": False},
                    {"allow_new_levels": True, "se_fit": True},
                    {"re_form": "~(1 | Subject)", "allow_new_levels": True}):
        chunked, expected = from_parquet.predict(new, **options), in_memory.predict(new, **options)
        np.testing.assert_allclose(np.asarray(chunked, float), np.asarray(expected, float),
                                   rtol=1e-8)


def test_estimates_and_summary(from_parquet, in_memory):
    text = str(from_parquet.summary())
    assert "Scaled residuals: not computed for a model fitted from chunks" in text
    assert text.split("Random effects:")[1] == str(in_memory.summary()).split(
        "Random effects:")[1]
    assert "not computed" in from_parquet._repr_html_()
    for group in ("Subject",):
        np.testing.assert_allclose(from_parquet.ranef[group], in_memory.ranef[group], rtol=1e-7,
                                   atol=1e-9)
        np.testing.assert_allclose(from_parquet.ranef_condsd[group],
                                   in_memory.ranef_condsd[group], rtol=1e-8)
    np.testing.assert_allclose(from_parquet.vcov, in_memory.vcov, rtol=1e-8)
    assert (from_parquet.aic, from_parquet.bic, from_parquet.df_resid) == pytest.approx(
        (in_memory.aic, in_memory.bic, in_memory.df_resid), rel=1e-10)


@pytest.mark.parametrize("ddf_method", ["satterthwaite", "kenward-roger"])
def test_denominator_df(from_parquet, in_memory, ddf_method):
    np.testing.assert_allclose(from_parquet.coefs(ddf_method).to_numpy(dtype=float),
                               in_memory.coefs(ddf_method).to_numpy(dtype=float), rtol=1e-6)
    for kind in (1, 2, 3):
        np.testing.assert_allclose(from_parquet.anova(kind, ddf_method).to_numpy(dtype=float),
                                   in_memory.anova(kind, ddf_method).to_numpy(dtype=float),
                                   rtol=1e-6)


@pytest.mark.parametrize("method", ["profile", "wald"])
def test_confidence_intervals(from_parquet, in_memory, method):
    np.testing.assert_allclose(from_parquet.confint(method), in_memory.confint(method),
                               rtol=1e-5)


def test_likelihood_ratio_tests(sleep, tmp_path):
    folder = write_parquet(split(sleep, 2), tmp_path / "lrt", row_group_size=40)
    small, large = fit("Reaction ~ Days + (1 | Subject)", str(folder)), fit(SLEEP, str(folder))
    chunked = lmmpy.anova(small, large)
    expected = lmmpy.anova(fit("Reaction ~ Days + (1 | Subject)", sleep), fit(SLEEP, sleep))
    np.testing.assert_allclose(chunked.to_numpy(dtype=float), expected.to_numpy(dtype=float),
                               rtol=1e-6)
    np.testing.assert_allclose(large.ranova().iloc[:, :7].to_numpy(dtype=float),
                               fit(SLEEP, sleep).ranova().iloc[:, :7].to_numpy(dtype=float),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="one was fitted in memory and one from chunks"):
        lmmpy.anova(fit("Reaction ~ Days + (1 | Subject)", sleep), large)
    other = fit(SLEEP, FrameChunks(split(sleep.assign(Reaction=sleep["Reaction"] + 1), 2)))
    with pytest.raises(ValueError, match="the responses of"):
        lmmpy.anova(small, other)


@pytest.mark.parametrize("call", [
    lambda m: m.bootstrap(5), lambda m: m.compare_pooling(), lambda m: m.simulate(),
    lambda m: m.refit(np.zeros(178)), lambda m: m.r2(), lambda m: m.icc(),
    lambda m: m.predict(se_fit=True),
    lambda m: m.design.Z, lambda m: m.design.y + 1,
])
def test_what_needs_the_rows_says_so(from_parquet, call):
    with pytest.raises(InMemoryDataError, match="needs the data rows in memory, and this "
                                                "model was fitted from chunks"):
        call(from_parquet)
