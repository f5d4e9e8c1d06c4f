"""Where the chunks come from: Parquet row groups (pyarrow), Dask partitions, or frames.

Each source maps a function over its chunks and sums the results in the tree
of :func:`~lmmpy.chunked._pass.tree_sum`:

* :class:`ParquetSource` — a file, a folder (its ``*.parquet`` files, sorted,
  recursively) or a glob; one row group at a time, only the model's columns
  read; on this machine, one chunk in memory at a time.  Every file's schema
  is checked first: a column of another kind in one file is a TypeError
  naming the file and the column.
* :class:`DaskSource` — a Dask DataFrame; a delayed call per partition, the
  tree's lower levels as delayed sums, computed by the active ``distributed``
  Client when there is one (else Dask's default scheduler), and its upper
  levels on this machine.
* :class:`FrameChunks` — pandas DataFrames (the chunks of a test).

pyarrow and dask are imported only here, and only when used.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from lmmpy.chunked._pass import tree_levels, tree_sum


class FrameChunks:
    """Chunks that are pandas DataFrames, in order.

    Examples
    --------
    >>> import lmmpy
    >>> sleep = lmmpy.datasets.load("sleepstudy")
    >>> source = FrameChunks([sleep.iloc[:90], sleep.iloc[90:]])
    >>> source.reduce(lambda frame, where: len(frame), lambda a, b: a + b, ["Days"])
    180
    """

    def __init__(self, frames: list[pd.DataFrame], name: str = "chunk"):
        self.frames, self.name = list(frames), name

    def empty(self) -> pd.DataFrame:
        return self.frames[0].iloc[:0]

    def chunks(self, columns: list[str]) -> Iterator[tuple[str, pd.DataFrame]]:
        for i, frame in enumerate(self.frames):
            yield f"{self.name} {i}", frame[columns]

    def reduce(self, function: Callable, add: Callable, columns: list[str],
               add_in_place: Callable | None = None):
        """Σ function(chunk) in the tree of :func:`tree_sum`; ``add_in_place`` (when given)
        sums partials that nothing else holds: this loop's."""
        return tree_sum((function(frame, where) for where, frame in self.chunks(columns)),
                        add if add_in_place is None else add_in_place)

    def map_frames(self, function: Callable, columns: list[str], name: str) -> pd.Series:
        parts = [function(frame, where) for where, frame in self.chunks(columns)]
        return pd.concat(parts).rename(name)


class ParquetSource(FrameChunks):
    """The row groups of a set of Parquet files (module docstring)."""

    def __init__(self, location: str | Path):
        import pyarrow.parquet as pq

        self.files = parquet_files(location)
        self.schemas = [_read_schema(pq, path) for path in self.files]
        self.name = str(location)

    def empty(self) -> pd.DataFrame:
        return self.schemas[0].empty_table().to_pandas()

    def check_columns(self, columns: list[str]) -> None:
        """Every file has every column, of the same kind as in the first file."""
        first = self.schemas[0]
        for path, schema in zip(self.files, self.schemas, strict=True):
            for column in columns:
                if column not in schema.names:
                    raise ValueError(f"column {column!r} is not in {path}")
                kind, expected = arrow_kind(schema.field(column).type), arrow_kind(
                    first.field(column).type)
                if kind != expected:
                    raise TypeError(
                        f"column {column!r} is {schema.field(column).type} in {path} but "
                        f"{first.field(column).type} in {self.files[0]}: make its type the "
                        "same in every file")

    def chunks(self, columns: list[str]) -> Iterator[tuple[str, pd.DataFrame]]:
        import pyarrow.parquet as pq

        self.check_columns(columns)
        start = 0
        for path in self.files:
            file = pq.ParquetFile(path)
            for group in range(file.num_row_groups):
                frame = file.read_row_group(group, columns=columns).to_pandas()
                if isinstance(frame.index, pd.RangeIndex):   # positions in the whole set
                    frame.index = pd.RangeIndex(start, start + len(frame))
                start += len(frame)
                yield f"{path} (row group {group})", frame


def _read_schema(pq, path: str):
    try:
        return pq.read_schema(path)
    except Exception as error:   # pyarrow's ArrowInvalid, OSError
        raise ValueError(f"{path} is not a Parquet file that pyarrow can read: {error}") from error


def parquet_files(location: str | Path) -> list[str]:
    """The Parquet files of a file, a folder (recursively) or a glob pattern, sorted."""
    path = Path(location)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.parquet"))
    elif path.is_file():
        files = [str(path)]
    else:
        files = sorted(glob.glob(str(location), recursive=True))
    if not files:
        raise ValueError(f"no Parquet files at {str(location)!r}: give a file, a folder of "
                         "*.parquet files or a glob such as 'data/*.parquet'")
    return files


def arrow_kind(arrow_type) -> str:
    """number, bool, string, timestamp, ... of a pyarrow type (integer widths, float
    widths, large and dictionary-encoded strings are one kind each)."""
    import pyarrow.types as pt

    if pt.is_dictionary(arrow_type):
        return arrow_kind(arrow_type.value_type)
    if pt.is_integer(arrow_type) or pt.is_floating(arrow_type) or pt.is_decimal(arrow_type):
        return "number"
    if pt.is_boolean(arrow_type):
        return "bool"
    if pt.is_string(arrow_type) or pt.is_large_string(arrow_type):
        return "string"
    return str(arrow_type)


class DaskSource:
    """The partitions of a Dask DataFrame (module docstring)."""

    def __init__(self, frame):
        self.frame = frame

    def empty(self) -> pd.DataFrame:
        return self.frame._meta

    def chunks(self, columns: list[str]) -> Iterator[tuple[str, pd.DataFrame]]:
        """Partitions one by one, computed on this machine (the first chunk's design)."""
        part = self.frame[columns]
        for i in range(part.npartitions):
            yield f"partition {i}", part.get_partition(i).compute()

    def reduce(self, function: Callable, add: Callable, columns: list[str],
               add_in_place: Callable | None = None):
        """Σ function(partition) in the tree of :func:`tree_sum`: its lower levels as Dask
        tasks, subtrees of 2ᵏ adjacent partitions (:func:`subtree_size`), its upper levels
        on this machine, in order, where ``add_in_place`` (when given) sums into the larger
        partial.  A task never changes its inputs (a retried task may read them again);
        what reaches this machine nothing else holds.  So no worker holds the whole sum,
        and none is copied from a worker to the driver: the driver holds the sum once, as
        the loop over row groups does."""
        from dask import delayed

        parts = self.frame[columns].to_delayed()
        leaves = [delayed(function, pure=True)(part, f"partition {i}")
                  for i, part in enumerate(parts)]
        if not leaves:
            raise ValueError("there are no chunks to sum")
        client = _active_client()
        size = subtree_size(len(leaves), _workers(client))
        add_task = delayed(add, pure=True)
        subtrees = [tree_levels(leaves[start:start + size], add_task)
                    for start in range(0, len(leaves), size)]
        return tree_sum(computed_in_order(subtrees, client), add if add_in_place is None
                        else add_in_place)

    def map_frames(self, function: Callable, columns: list[str], name: str):
        return self.frame[columns].map_partitions(
            lambda frame: function(frame, "a partition"), meta=(name, "f8"))


def subtree_size(n_leaves: int, n_workers: int) -> int:
    """Partitions a Dask task sums before its partial goes to the driver: the largest
    power of two that still leaves four subtrees a worker (the cluster kept busy, each
    worker's partials small); aligned subtrees of that size are the tree's own, so the
    sum's bits do not depend on it."""
    size = 1
    while n_leaves / (2 * size) >= 4 * max(n_workers, 1):
        size *= 2
    return size


def computed_in_order(graphs: list, client=None) -> Iterator:
    """Each delayed result in turn, computed on ``client`` (a distributed Client) when
    given (all submitted at once; each future released as soon as it is read), else by
    Dask's default scheduler a few at a time."""
    if client is not None:
        futures = client.compute(graphs)
        try:
            for future in futures:
                yield future.result()
                future.release()   # the worker drops its copy now, not when collected
        finally:
            for future in futures:
                future.release()
            # the workers' freed partials stay resident in their allocators (Dask's
            # "unmanaged memory") while this machine optimizes: hand them back
            client.run(release_freed_memory)
        return
    import dask

    window = _workers(None)
    for start in range(0, len(graphs), window):
        yield from dask.compute(*graphs[start:start + window])


def release_freed_memory() -> None:
    """Return what this process has freed to the system: pyarrow's pool (where a
    partition read from Parquet was decoded; 0.2 GB a worker at 10⁸ rows) and glibc's
    ``malloc_trim`` (a no-op elsewhere), as Dask's documentation suggests for a worker's
    unmanaged memory."""
    import ctypes
    import ctypes.util
    import gc
    import sys

    gc.collect()
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if trim is not None:
        trim(0)


def _active_client():
    """The active distributed Client, or None (no client, or no ``distributed``)."""
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def _workers(client) -> int:
    """Worker threads of ``client``, else this machine's CPUs."""
    if client is not None:
        return max(sum(client.nthreads().values()), 1)
    return os.cpu_count() or 1


def is_dask_frame(data: object) -> bool:
    """Whether ``data`` is a Dask DataFrame (without importing dask)."""
    module = type(data).__module__
    return module.startswith("dask") and hasattr(data, "npartitions") and hasattr(
        data, "map_partitions")


def source_of(data: object) -> FrameChunks | DaskSource | None:
    """The chunk source for ``data``, or None for data fitted in memory."""
    if isinstance(data, str | Path):
        return ParquetSource(data)
    if is_dask_frame(data):
        return DaskSource(data)
    if isinstance(data, FrameChunks):
        return data
    return None
