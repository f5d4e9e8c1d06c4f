"""Fitting from chunks: Parquet row groups, Dask partitions, data larger than memory.

A linear mixed model's profiled deviance needs only the cross-product blocks
[Z X y]'W[Z X y] (Bates et al. 2015, section 3), whose size depends on the
numbers of levels and columns, not of rows.  ``lmmpy.lmer(formula, source)``
with a Parquet location or a Dask DataFrame makes two passes over the data:

1. the schema (:mod:`lmmpy.chunked._schema`): columns, factor levels (the
   union over chunks, in the order an in-memory fit gives them), missing
   values;
2. per chunk, the design on those levels and its products with
   :func:`lmmpy.objective.cross_products` — the in-memory code — summed in a
   tree (:mod:`lmmpy.chunked._pass`);

then optimizes on this machine as in memory.  The fit is the in-memory fit
(θ, β and the log-likelihood agree to rounding); the model holds no rows
(:class:`ChunkedLinearMixedModel`).
"""

from lmmpy.chunked._model import ChunkedLinearMixedModel
from lmmpy.chunked._rows import InMemoryDataError
from lmmpy.chunked._sources import FrameChunks

__all__ = ["ChunkedLinearMixedModel", "FrameChunks", "InMemoryDataError"]
