"""The ``lmmpy`` command line: fit a model and print lme4's summary, list the data sets.

::

    lmmpy fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy [--ml]
    lmmpy fit "y ~ x + (1 | g)" --data mydata.csv --weights w --offset o
    lmmpy datasets

``--data`` is a bundled data set (case-insensitive, see ``lmmpy datasets``) or
the path of a ``.csv`` or ``.parquet`` file (Parquet needs ``pyarrow``).  Text
columns of a CSV file work as grouping factors.  Bad input prints
``lmmpy: error: <message>`` to stderr and exits with status 2; warnings from
the fit (singular fit, convergence) print as ``lmmpy: warning: <message>``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from lmmpy import __version__, datasets
from lmmpy.fit import lmer

__all__ = ["main"]

PROG = "lmmpy"
EXIT_USAGE = 2
_CSV_SUFFIXES = (".csv", ".csv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class CliError(Exception):
    """Bad input on the command line, reported as ``lmmpy: error: <message>``."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Examples
    --------
    >>> main(["fit", "Yield ~ 1 + (1 | Batch)", "--data", "dyestuff"])  # doctest: +SKIP
    Linear mixed model fit by REML ['lmerMod']
    ...
    """
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (CliError, ValueError, TypeError, OSError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Linear mixed models from lme4-style formulas."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_fit_command(commands)
    listing = commands.add_parser("datasets", help="list the bundled data sets")
    listing.set_defaults(run=_run_datasets)
    return parser


def _add_fit_command(commands) -> None:
    fit = commands.add_parser(
        "fit", help="fit a linear mixed model and print its summary",
        description="Fit a linear mixed model (REML unless --ml) and print lme4's summary.",
    )
    fit.add_argument("formula",
                     help='lme4-style formula, e.g. "Reaction ~ Days + (Days | Subject)"')
    fit.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                     help="bundled data set name (see `lmmpy datasets`) or a .csv/.parquet file")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit.add_argument("--weights", metavar="COL", help="column of prior weights")
    fit.add_argument("--offset", metavar="COL", help="column added to the linear predictor")
    fit.set_defaults(run=_run_fit)


def _run_fit(args: argparse.Namespace) -> int:
    data, data_name = load_data(args.data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = lmer(args.formula, data, reml=not args.ml, weights=args.weights,
                     offset=args.offset, data_name=data_name)
    print(model.summary(), end="")
    for warning in caught:
        print(f"{PROG}: warning: {warning.message}", file=sys.stderr)
    return 0


def _run_datasets(args: argparse.Namespace) -> int:
    names = datasets.list_datasets()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {datasets.describe(name)}")
    return 0


def load_data(source: str) -> tuple[pd.DataFrame, str]:
    """Read ``--data``: a bundled data set or a CSV/Parquet file; return it and its name.

    Examples
    --------
    >>> frame, name = load_data("SLEEPSTUDY")
    >>> name, frame.shape
    ('sleepstudy', (180, 3))
    """
    if _is_file_path(source):
        return _read_file(Path(source)), Path(source).name
    bundled = {name.lower(): name for name in datasets.list_datasets()}
    if source.lower() in bundled:
        name = bundled[source.lower()]
        return datasets.load(name), name
    raise CliError(
        f"no bundled data set named {source!r} (bundled: {', '.join(bundled.values())}); "
        "to read a file, give its path ending in .csv or .parquet"
    )


def _is_file_path(source: str) -> bool:
    lowered = source.lower()
    return lowered.endswith(_CSV_SUFFIXES + _PARQUET_SUFFIXES) or Path(source).is_file()


def _read_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise CliError(f"data file not found: {path}")
    lowered = path.name.lower()
    if lowered.endswith(_PARQUET_SUFFIXES):
        return _read_parquet(path)
    if lowered.endswith(_CSV_SUFFIXES):
        return pd.read_csv(path)
    raise CliError(f"cannot read {path}: the data file must end in .csv or .parquet")


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401  (pandas' Parquet engine)
    except ImportError:
        raise CliError(
            f"reading {path.name} needs pyarrow, which is not installed: "
            "pip install pyarrow (or save the data as .csv)"
        ) from None
    return pd.read_parquet(path, engine="pyarrow")
