"""What stands for the rows of a model fitted from chunks: any use of them says so.

A design fitted from Parquet row groups or Dask partitions holds the
cross-products and the encodings, not y, X or the grouping codes.  Each of
those is a :class:`RowsNotInMemory`, which raises :class:`InMemoryDataError`
(naming what was asked for) on any use instead of computing something wrong
from an empty array.
"""

from __future__ import annotations

from lmmpy._errors import MESSAGE, InMemoryDataError

__all__ = ["MESSAGE", "InMemoryDataError", "RowsNotInMemory"]


class RowsNotInMemory:
    """An n-row array of a chunked fit that is not held: every use raises.

    Examples
    --------
    >>> y = RowsNotInMemory("the response")
    >>> try:
    ...     y @ [1.0]
    ... except InMemoryDataError as error:
    ...     print(str(error).split(",")[0])
    the response needs the data rows in memory
    """

    def __init__(self, what: str):
        object.__setattr__(self, "_what", what)

    def __repr__(self) -> str:
        return f"<{self._what}: not in memory (fitted from chunks)>"

    def _refuse(self, *args, **kwargs):
        raise InMemoryDataError.about(self._what)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__") and name not in _ARRAY_PROTOCOL:
            raise AttributeError(name)   # copy, pickle and friends look for these
        self._refuse()

    __array__ = __len__ = __iter__ = __getitem__ = _refuse
    __matmul__ = __rmatmul__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __neg__ = __pow__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __hash__ = None


_ARRAY_PROTOCOL = {"__array_interface__", "__array_struct__", "__array_function__",
                   "__array_ufunc__"}
