"""Errors shared by several stages (kept apart so that raising one imports nothing else).

:class:`InMemoryDataError` is raised by what needs the rows of a model fitted from
chunks (:mod:`lmmpy.chunked`), inside and outside that package (the reductions of
``ranova``); ``lmmpy.chunked.InMemoryDataError`` is the same class.
"""

from __future__ import annotations

MESSAGE = ("{what} needs the data rows in memory, and this model was fitted from chunks "
           "(Parquet or Dask); load the data into a pandas DataFrame and fit it with "
           "lmmpy.lmer(formula, data_frame) to use it")


class InMemoryDataError(ValueError):
    """Raised when a method needs the rows of a model fitted from chunks.

    Examples
    --------
    >>> str(InMemoryDataError.about("the bootstrap")).split(",")[0]
    'the bootstrap needs the data rows in memory'
    """

    @classmethod
    def about(cls, what: str) -> InMemoryDataError:
        return cls(MESSAGE.format(what=what))
