"""The model fitted from chunks: the same fitted model, its row-wise values made by chunk.

Everything derived from θ̂, β̂ and the products is the in-memory model's
(estimates, ``summary``, ``ranef``, ``varcorr``, Satterthwaite and
Kenward-Roger df, profiles, likelihood-ratio tests).  What is one value per
row is computed chunk by chunk from the data source, with the fit's
encodings (:func:`lmmpy.LinearMixedModel.predict` on each chunk):

* ``fitted``, ``residuals`` and ``predict()`` on the fit's data: a Dask
  Series (lazy: nothing is computed until asked) for Dask input, a pandas
  Series made one row group at a time for Parquet;
* ``predict(newdata)`` for a Dask ``newdata``: a lazy Dask Series.

What needs the rows in memory as a whole (the parametric bootstrap, refits
to new responses, simulation, the pooling comparison, R², ICC) raises
:class:`~lmmpy.chunked.InMemoryDataError`, which says so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from lmmpy.chunked._rows import InMemoryDataError
from lmmpy.design._build import _complete_rows, _response
from lmmpy.results import LinearMixedModel


@dataclass(frozen=True, eq=False)
class ChunkedLinearMixedModel(LinearMixedModel):
    """A :class:`~lmmpy.LinearMixedModel` fitted from chunks (module docstring).

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.chunked import FrameChunks
    >>> sleep = lmmpy.datasets.load("sleepstudy")
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)",
    ...                FrameChunks([sleep.iloc[:100], sleep.iloc[100:]]))
    >>> round(m.reml_criterion, 2), round(float(m.residuals.iloc[0]), 3)
    (1743.63, -4.104)
    """

    source: object = field(default=None, repr=False)
    designer: object = field(default=None, repr=False)

    @cached_property
    def _rows_model(self) -> LinearMixedModel:
        """What a chunk's predictions need, and nothing that does not pickle: the design's
        encodings and the solution (shipped to Dask workers)."""
        return LinearMixedModel(self.design, None, None, self.solution, self.reml)

    @property
    def fitted(self):
        """Fitted values Xβ̂ + Zb̂ + offset of the rows used, chunk by chunk."""
        return self._by_chunk("fitted")

    @property
    def residuals(self):
        """Response residuals y − fitted, chunk by chunk."""
        return self._by_chunk("residuals")

    def predict(self, newdata=None, re_form: object = None, allow_new_levels: bool = False,
                se_fit: bool = False, interval: str | None = None, level: float = 0.95):
        """:meth:`lmmpy.LinearMixedModel.predict`; the fit's data and a Dask ``newdata``
        chunk by chunk (lazy for Dask); standard errors on pandas ``newdata`` only."""
        from lmmpy.chunked._sources import is_dask_frame

        if (se_fit or interval is not None) and (newdata is None or is_dask_frame(newdata)):
            raise InMemoryDataError.about("predict(se_fit=True) or an interval")
        if newdata is None:
            return self._by_chunk("fitted", re_form)
        if is_dask_frame(newdata):
            predict = functools.partial(_predict_chunk, model=self._rows_model,
                                        re_form=re_form, allow_new_levels=allow_new_levels)
            return newdata.map_partitions(predict, meta=("predicted", "f8"))
        return super().predict(newdata, re_form, allow_new_levels, se_fit, interval, level)

    def _by_chunk(self, what: str, re_form: object = None):
        function = functools.partial(_chunk_values, model=self._rows_model,
                                     designer=self.designer, what=what, re_form=re_form)
        return self.source.map_frames(function, list(self.designer.schema.columns.all), what)

    # ---- what needs every row in memory -----------------------------------------------
    def refit(self, y):
        raise InMemoryDataError.about("refit to a new response")

    def simulate(self, *args, **kwargs):
        raise InMemoryDataError.about("simulate")

    def bootstrap(self, *args, **kwargs):
        raise InMemoryDataError.about("the parametric bootstrap")

    def compare_pooling(self, *args, **kwargs):
        raise InMemoryDataError.about("the pooling comparison")

    def icc(self, *args, **kwargs):
        raise InMemoryDataError.about("the ICC")

    def r2(self, *args, **kwargs):
        raise InMemoryDataError.about("R²")


def _chunk_values(frame: pd.DataFrame, source: str, model: LinearMixedModel, designer,
                  what: str, re_form: object) -> pd.Series:
    """Fitted values or residuals of one chunk's rows that the fit used."""
    weights = None if designer.weights is None else frame[designer.weights].to_numpy(float)
    offset = None if designer.offset is None else frame[designer.offset].to_numpy(float)
    columns = [c for c in designer.schema.columns.all if c not in (designer.weights,
                                                                    designer.offset)]
    keep = _complete_rows(model.design.formula, columns, frame, weights, offset)
    rows = frame if keep.all() else frame.loc[keep]
    if not len(rows):
        return pd.Series(np.empty(0), index=rows.index, name=what, dtype=float)
    fitted = _predict_chunk(rows, model, re_form, False)
    if what == "fitted":
        return fitted.rename("fitted")
    y = _response(model.design.formula, rows)
    return pd.Series(y - fitted.to_numpy(), index=rows.index, name="residuals")


def _predict_chunk(frame: pd.DataFrame, model: LinearMixedModel, re_form: object,
                   allow_new_levels: bool) -> pd.Series:
    if not len(frame):
        return pd.Series(np.empty(0), index=frame.index, name="predicted", dtype=float)
    return model.predict(frame, re_form=re_form, allow_new_levels=allow_new_levels)
