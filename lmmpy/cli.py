"""The ``lmmpy`` command line: fit a model and print lme4's summary, list the data sets.

::

    lmmpy fit "Reaction ~ Days + (Days | Subject)" --data sleepstudy [--ml]
    lmmpy fit "y ~ x + (1 | g)" --data mydata.csv --weights w --offset o
    lmmpy fit "y ~ x + (1 | g)" --data export.csv --sep ";" --encoding latin-1
    lmmpy fit "cbind(incidence, size - incidence) ~ period + (1 | herd)" --data cbpp \
        --family binomial [--link probit] [--nagq 25]
    lmmpy fit "y ~ trt + lbase + (1 | subject)" --data epil --family negative_binomial
    lmmpy datasets

``--family`` fits a GLMM (lme4's ``glmer``: binomial, poisson, Gamma,
inverse.gaussian; ``negative_binomial`` is ``glmer.nb``, its shape estimated);
``gaussian`` or no ``--family`` is ``lmer``.

``--data`` is a bundled data set (case-insensitive, see ``lmmpy datasets``) or
the path of a ``.csv`` or ``.parquet`` file (Parquet needs ``pyarrow``).  Text
columns of a CSV file work as grouping factors.  A CSV file's separator (``,``
``;`` tab or ``|``, from its header line) and encoding (UTF-8, else
Windows-1252/Latin-1) are detected unless ``--sep``/``--encoding`` give them;
a ``;``-separated file with decimal commas (a spreadsheet's European export)
is read with ``,`` as the decimal mark; what was detected is noted on stderr.
Every error prints ``lmmpy: error: <message>`` to stderr and exits with
status 2, never a traceback; warnings from the fit (singular fit,
convergence) print as ``lmmpy: warning: <message>``.
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from lmmpy import __version__, datasets
from lmmpy.fit import lmer
from lmmpy.glmm import glmer, glmer_nb

__all__ = ["main"]

PROG = "lmmpy"
EXIT_USAGE = 2
_CSV_SUFFIXES = (".csv", ".csv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_SEPARATORS = (",", ";", "\t", "|")
_SAMPLE_BYTES = 1 << 16
_FALLBACK_ENCODING = "cp1252"  # Windows' Latin-1; latin-1 itself if that cannot decode
_NEGATIVE_BINOMIAL = ("negative_binomial", "negative.binomial", "negbin", "nb")


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
    except Exception as error:  # a command line prints a message, never a traceback
        print(f"{PROG}: error: {type(error).__name__}: {error}", file=sys.stderr)
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
        "fit", help="fit a (generalized) linear mixed model and print its summary",
        description="Fit a linear mixed model (REML unless --ml), or with --family a "
                    "generalized linear mixed model, and print lme4's summary.",
    )
    fit.add_argument("formula",
                     help='lme4-style formula, e.g. "Reaction ~ Days + (Days | Subject)"')
    fit.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                     help="bundled data set name (see `lmmpy datasets`) or a .csv/.parquet file")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit.add_argument("--family", metavar="NAME",
                     help="GLMM family: binomial, poisson, Gamma, inverse.gaussian or "
                          "negative_binomial (shape estimated, as glmer.nb); default: gaussian")
    fit.add_argument("--link", metavar="NAME", help="link function (default: the family's)")
    fit.add_argument("--nagq", metavar="N", type=int,
                     help="GLMM: Gauss-Hermite points (1 = Laplace, the default; 0 = nAGQ 0)")
    fit.add_argument("--weights", metavar="COL", help="column of prior weights")
    fit.add_argument("--offset", metavar="COL", help="column added to the linear predictor")
    fit.add_argument("--sep", metavar="CHAR",
                     help="CSV field separator (default: detected from the header line)")
    fit.add_argument("--encoding", metavar="NAME",
                     help="CSV text encoding, e.g. latin-1 (default: UTF-8, else cp1252)")
    fit.set_defaults(run=_run_fit)


def _run_fit(args: argparse.Namespace) -> int:
    data, data_name = load_data(args.data, sep=args.sep, encoding=args.encoding)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _fit(args, data, data_name)
    print(model.summary(), end="")
    for warning in caught:
        print(f"{PROG}: warning: {warning.message}", file=sys.stderr)
    return 0


def _fit(args: argparse.Namespace, data: pd.DataFrame, data_name: str):
    """lmer without --family (or gaussian), glmer_nb for the negative binomial, else glmer."""
    common = {"weights": args.weights, "offset": args.offset, "data_name": data_name}
    if args.family in (None, "gaussian"):
        for flag, value in (("--link", args.link), ("--nagq", args.nagq)):
            if value is not None:
                raise CliError(f"{flag} is for a GLMM: give --family (binomial, poisson, ...)")
        return lmer(args.formula, data, reml=not args.ml, **common)
    if args.ml:
        raise CliError("--ml is for a linear mixed model: a GLMM (--family) is always fitted by "
                       "maximum likelihood")
    nagq = 1 if args.nagq is None else args.nagq
    if args.family.lower() in _NEGATIVE_BINOMIAL:
        return glmer_nb(args.formula, data, link=args.link or "log", nagq=nagq, **common)
    return glmer(args.formula, data, args.family, link=args.link, nagq=nagq, **common)


def _run_datasets(args: argparse.Namespace) -> int:
    names = datasets.list_datasets()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {datasets.describe(name)}")
    return 0


def load_data(source: str, sep: str | None = None,
              encoding: str | None = None) -> tuple[pd.DataFrame, str]:
    """Read ``--data``: a bundled data set or a CSV/Parquet file; return it and its name.

    ``sep`` and ``encoding`` apply to CSV files; None detects them.

    Examples
    --------
    >>> frame, name = load_data("SLEEPSTUDY")
    >>> name, frame.shape
    ('sleepstudy', (180, 3))
    """
    if _is_file_path(source):
        return _read_file(Path(source), sep, encoding), Path(source).name
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


def _read_file(path: Path, sep: str | None, encoding: str | None) -> pd.DataFrame:
    if not path.is_file():
        raise CliError(f"data file not found: {path}")
    lowered = path.name.lower()
    if lowered.endswith(_PARQUET_SUFFIXES):
        return _read_parquet(path)
    if lowered.endswith(_CSV_SUFFIXES):
        return read_csv(path, sep, encoding)
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


def read_csv(path: Path, sep: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Read a CSV file, detecting the separator and encoding that are not given.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "export.csv"
    ...     _ = path.write_bytes("y;Gruppe|1,5;Straße|2,5;Straße|".replace("|", chr(10))
    ...                          .encode("cp1252"))
    ...     read_csv(path).to_dict("list")
    {'y': [1.5, 2.5], 'Gruppe': ['Straße', 'Straße']}
    """
    if encoding is not None:
        _check_encoding(encoding)
    sample = _head(path)
    encoding = encoding or _detect_encoding(sample)
    text = sample.decode(encoding, errors="replace")
    sep = sep or _detect_separator(text)
    decimal = "," if sep == ";" and re.search(r"\d,\d", text) else "."
    try:
        data = pd.read_csv(path, sep=sep, encoding=encoding, decimal=decimal)
    except (UnicodeDecodeError, LookupError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as error:
        raise CliError(
            f"cannot read {path.name} as a CSV file with separator {sep!r} and encoding "
            f"{encoding}: {error}. Give the separator with --sep (e.g. --sep ';') and the "
            "encoding with --encoding (e.g. --encoding latin-1)"
        ) from None
    if (sep, decimal) != (",", ".") or encoding not in ("utf-8", "utf-8-sig"):
        print(f"{PROG}: note: read {path.name} with separator {sep!r}, decimal mark "
              f"{decimal!r} and encoding {encoding} (--sep/--encoding to change)",
              file=sys.stderr)
    return data


def _check_encoding(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise CliError(f"unknown encoding {encoding!r} (--encoding); common ones are utf-8, "
                       "latin-1 and cp1252") from None


def _head(path: Path) -> bytes:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as stream:
            return stream.read(_SAMPLE_BYTES)
    except (OSError, EOFError) as error:
        raise CliError(f"cannot read {path.name}: {error}") from None


def _detect_encoding(sample: bytes) -> str:
    """UTF-8 when the start of the file decodes as UTF-8 (a character cut off at the end
    of the sample allowed), else Windows-1252, else Latin-1 (which decodes anything)."""
    for encoding in ("utf-8", _FALLBACK_ENCODING):
        try:
            codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        return "utf-8-sig" if sample.startswith(codecs.BOM_UTF8) else encoding
    return "latin-1"


def _detect_separator(text: str) -> str:
    """The separator the header line holds most of (a comma if it holds none)."""
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    counts = {sep: header.count(sep) for sep in _SEPARATORS}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","
