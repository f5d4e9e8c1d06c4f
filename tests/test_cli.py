"""The ``lmmpy`` command line: ``fit`` on bundled data and files, ``datasets``, error paths."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
SLEEPSTUDY = "Reaction ~ Days + (Days | Subject)"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def api_summary(formula: str, data: pd.DataFrame, data_name: str, **kwargs) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lmmpy.lmer(formula, data, data_name=data_name, **kwargs)
    return str(model.summary())


# ---- fit ------------------------------------------------------------------------------
def test_fit_bundled_data_prints_the_summary(capsys):
    status, out, err = run(capsys, "fit", SLEEPSTUDY, "--data", "sleepstudy")
    assert status == 0
    assert err == ""
    assert out == api_summary(SLEEPSTUDY, lmmpy.datasets.load("sleepstudy"), "sleepstudy")
    assert "REML criterion at convergence: 1743.6" in out
    assert "   Data: sleepstudy" in out


def test_fit_data_name_is_case_insensitive_and_printed_canonically(capsys):
    status, out, _ = run(capsys, "fit", "Yield ~ 1 + (1 | Batch)", "--data", "DYESTUFF")
    assert status == 0
    assert "   Data: Dyestuff\n" in out


def test_fit_ml(capsys):
    status, out, _ = run(capsys, "fit", SLEEPSTUDY, "--data", "sleepstudy", "--ml")
    assert status == 0
    assert out.startswith("Linear mixed model fit by maximum likelihood")
    assert out == api_summary(SLEEPSTUDY, lmmpy.datasets.load("sleepstudy"), "sleepstudy",
                              reml=False)


def test_fit_warnings_go_to_stderr_without_traceback(capsys):
    status, out, err = run(capsys, "fit", "Yield ~ 1 + (1 | Batch)", "--data", "Dyestuff2")
    assert status == 0
    assert "Random effects:" in out
    assert err.startswith("lmmpy: warning: boundary (singular) fit")
    assert "Traceback" not in err


def test_fit_csv_with_string_grouping_columns(capsys, tmp_path):
    pastes = lmmpy.datasets.load("Pastes")
    path = tmp_path / "pastes.csv"
    pastes.to_csv(path, index=False)
    assert pd.read_csv(path)["batch"].map(type).eq(str).all()  # text, not categorical

    status, out, _ = run(capsys, "fit", "strength ~ 1 + (1 | batch/cask)", "--data", str(path))
    assert status == 0
    assert "   Data: pastes.csv\n" in out
    assert "groups:  cask:batch, 30; batch, 10" in out
    assert out == api_summary("strength ~ 1 + (1 | batch/cask)", pastes, "pastes.csv")


def test_fit_csv_with_weights_and_offset_columns(capsys, tmp_path):
    data = lmmpy.datasets.load("sleepstudy")
    rng = np.random.default_rng(1)
    data["w"] = rng.uniform(0.5, 2.0, len(data))
    data["o"] = rng.normal(0.0, 5.0, len(data))
    path = tmp_path / "sleep.csv"
    data.to_csv(path, index=False)

    status, out, _ = run(capsys, "fit", SLEEPSTUDY, "--data", str(path),
                         "--weights", "w", "--offset", "o")
    assert status == 0
    assert "Weights: given" in out
    expected = api_summary(SLEEPSTUDY, pd.read_csv(path), "sleep.csv", weights="w", offset="o")
    assert out == expected
    assert out != api_summary(SLEEPSTUDY, pd.read_csv(path), "sleep.csv")


def test_fit_parquet_file(capsys, tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "dyestuff.parquet"
    lmmpy.datasets.load("Dyestuff").to_parquet(path)
    status, out, _ = run(capsys, "fit", "Yield ~ 1 + (1 | Batch)", "--data", str(path))
    assert status == 0
    assert "   Data: dyestuff.parquet\n" in out


# ---- GLMMs: --family, --link, --nagq -------------------------------------------------
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
EPIL = "y ~ trt + lbase + lage + V4 + (1 | subject)"


def glmm_summary(fit, formula: str, data_name: str, *args, **kwargs) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit(formula, lmmpy.datasets.load(data_name), *args, data_name=data_name,
                    **kwargs)
    return str(model.summary())


def test_fit_binomial_glmm(capsys):
    status, out, err = run(capsys, "fit", CBPP, "--data", "cbpp", "--family", "binomial")
    assert status == 0 and err == ""
    assert out.startswith("Generalized linear mixed model fit by maximum likelihood (Laplace "
                          "Approximation)")
    assert " Family: binomial  ( logit )\n" in out
    assert out == glmm_summary(lmmpy.glmer, CBPP, "cbpp", "binomial")


@pytest.mark.parametrize(("options", "kwargs", "header"), [
    (["--nagq", "25"], {"nagq": 25}, "(Adaptive Gauss-Hermite Quadrature, nAGQ = 25)"),
    (["--link", "probit"], {"link": "probit"}, " Family: binomial  ( probit )"),
    (["--nagq", "0"], {"nagq": 0}, " Family: binomial  ( logit )"),
])
def test_fit_glmm_options(capsys, options, kwargs, header):
    status, out, _ = run(capsys, "fit", CBPP, "--data", "cbpp", "--family", "binomial", *options)
    assert status == 0
    assert header in out
    assert out == glmm_summary(lmmpy.glmer, CBPP, "cbpp", "binomial", **kwargs)


def test_fit_negative_binomial_glmm(capsys, tmp_path):
    path = tmp_path / "epil.csv"
    lmmpy.datasets.load("epil").to_csv(path, index=False)
    status, out, _ = run(capsys, "fit", EPIL, "--data", "epil", "--family", "negative_binomial")
    assert status == 0
    assert re.search(r" Family: Negative Binomial\(7\.419\d\)  \( log \)\n", out)
    assert out == glmm_summary(lmmpy.glmer_nb, EPIL, "epil")
    status, csv_out, _ = run(capsys, "fit", EPIL, "--data", str(path), "--family", "NB")
    assert status == 0
    assert csv_out.replace("   Data: epil.csv", "   Data: epil") == out


def test_family_gaussian_is_lmer(capsys):
    status, out, _ = run(capsys, "fit", SLEEPSTUDY, "--data", "sleepstudy", "--family",
                         "gaussian")
    assert status == 0
    assert out == api_summary(SLEEPSTUDY, lmmpy.datasets.load("sleepstudy"), "sleepstudy")


@pytest.mark.parametrize(("argv", "message"), [
    (["--family", "quasipoisson"], "unknown family 'quasipoisson'"),
    (["--family", "binomial", "--link", "sqrt"],
     "link 'sqrt' is not available for the binomial family"),
    (["--link", "probit"], "--link is for a GLMM: give --family"),
    (["--nagq", "5"], "--nagq is for a GLMM: give --family"),
    (["--family", "binomial", "--ml"], "--ml is for a linear mixed model"),
    (["--family", "binomial", "--nagq", "-1"], "nagq must be an integer of 0 or more"),
    (["--family", "poisson", "--formula", "incidence ~ 1 + (1 | herd) + (1 | period)",
      "--nagq", "9"],
     "nagq > 1 needs a single random-effects term with one column"),
    (["--family", "poisson", "--formula", "incidence - 5 ~ period + (1 | herd)"],
     "has negative counts"),
    (["--family", "Gamma", "--formula", "incidence ~ period + (1 | herd)"],
     "has values of 0 or less: the Gamma family needs positive values"),
    (["--family", "binomial", "--formula", "size ~ period + (1 | herd)"],
     "has values outside [0, 1]"),
])
def test_glmm_errors(capsys, argv, message):
    formula = CBPP
    if "--formula" in argv:
        index = argv.index("--formula")
        formula = argv[index + 1]
        argv = argv[:index] + argv[index + 2:]
    status, out, err = run(capsys, "fit", formula, "--data", "cbpp", *argv)
    assert status == 2
    assert out == ""
    assert err.startswith("lmmpy: error: ")
    assert message in err
    assert "Traceback" not in err


# ---- datasets -------------------------------------------------------------------------
def test_datasets_lists_every_name_with_its_description(capsys):
    status, out, _ = run(capsys, "datasets")
    assert status == 0
    lines = out.splitlines()
    assert len(lines) == len(lmmpy.datasets.list_datasets())
    for name, line in zip(lmmpy.datasets.list_datasets(), lines, strict=True):
        assert line.split()[0] == name
        assert line.endswith(lmmpy.datasets.describe(name))


# ---- errors: `lmmpy: error: <message>` on stderr, exit status 2, no traceback ----------
def write_csv(tmp_path: Path, name: str = "data.csv") -> Path:
    path = tmp_path / name
    lmmpy.datasets.load("sleepstudy").to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fit", SLEEPSTUDY, "--data", "nosuchdata"], "no bundled data set named 'nosuchdata'"),
        (["fit", SLEEPSTUDY, "--data", "missing.csv"], "data file not found: missing.csv"),
        (["fit", SLEEPSTUDY, "--data", "missing.parquet"], "data file not found"),
        (["fit", "Reaction ~ Days + (Days | Subject", "--data", "sleepstudy"],
         "unbalanced parenthesis in formula\n  Reaction ~ Days + (Days | Subject\n"),
        (["fit", "Reaction ~ Dys + (Days | Subject)", "--data", "sleepstudy"],
         "column 'Dys' used in formula"),
        (["fit", "Reaction ~ Days", "--data", "sleepstudy"], "has no random-effects terms"),
        (["fit", "Subject ~ Days + (1 | Subject)", "--data", "sleepstudy"],
         "response 'Subject' must be numeric"),
        (["fit", SLEEPSTUDY, "--data", "sleepstudy", "--weights", "w"],
         "column 'w' used in weights is not in the data"),
        (["fit", SLEEPSTUDY, "--data", "sleepstudy", "--offset", "o"],
         "column 'o' used in offset is not in the data"),
    ],
)
def test_errors_print_one_message_and_exit_2(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.startswith("lmmpy: error: ")
    assert message in err
    assert "Traceback" not in err


def test_error_for_a_file_that_is_neither_csv_nor_parquet(capsys, tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("not a spreadsheet")
    status, _, err = run(capsys, "fit", SLEEPSTUDY, "--data", str(path))
    assert status == 2
    assert err.startswith("lmmpy: error: cannot read")
    assert "must end in .csv or .parquet" in err


def test_error_for_an_empty_csv(capsys, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    status, _, err = run(capsys, "fit", SLEEPSTUDY, "--data", str(path))
    assert status == 2
    assert err.startswith("lmmpy: error: ")


def test_error_for_parquet_without_pyarrow(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    status, _, err = run(capsys, "fit", SLEEPSTUDY, "--data", str(path))
    assert status == 2
    assert err.startswith("lmmpy: error: reading data.parquet needs pyarrow")
    assert "pip install pyarrow" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["fit", SLEEPSTUDY], "the following arguments are required: --data"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: lmmpy")
    assert re.search(r"^lmmpy( fit)?: error: ", err, flags=re.MULTILINE)
    assert message in err


# ---- python -m lmmpy ------------------------------------------------------------------
def run_module(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "lmmpy", *argv], capture_output=True,
                          text=True, cwd=REPO_ROOT, env=env, timeout=300, check=False)


def test_python_dash_m_fits_and_prints_the_summary():
    result = run_module("fit", SLEEPSTUDY, "--data", "sleepstudy")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Linear mixed model fit by REML ['lmerMod']")
    assert "Days          10.467      1.546   6.771" in result.stdout


def test_python_dash_m_error_has_no_traceback():
    result = run_module("fit", SLEEPSTUDY, "--data", "no_such_file.csv")
    assert result.returncode == 2
    assert result.stderr == "lmmpy: error: data file not found: no_such_file.csv\n"


# ---- CSV dialects and every error path (issue 11 item 5) ------------------------------
def write_european_csv(tmp_path: Path, encoding: str = "cp1252") -> Path:
    """sleepstudy as a spreadsheet's European export: ';' separators, decimal commas,
    and a column name and values with a non-ASCII letter."""
    data = lmmpy.datasets.load("sleepstudy").rename(columns={"Subject": "Versuchsperson"})
    data["Versuchsperson"] = "Prüfling " + data["Versuchsperson"].astype(str)
    path = tmp_path / "export.csv"
    path.write_bytes(data.to_csv(sep=";", decimal=",", index=False).encode(encoding))
    return path


EUROPEAN = "Reaction ~ Days + (Days | Versuchsperson)"


def expected_european_summary(path: Path) -> str:
    data = pd.read_csv(path, sep=";", decimal=",", encoding="cp1252")
    return api_summary(EUROPEAN, data, path.name)


def test_a_semicolon_separated_latin1_file_is_detected(capsys, tmp_path):
    path = write_european_csv(tmp_path)
    status, out, err = run(capsys, "fit", EUROPEAN, "--data", str(path))
    assert status == 0, err
    assert out == expected_european_summary(path)
    assert "Reaction ~ Days + (Days | Versuchsperson)" in out
    assert err == ("lmmpy: note: read export.csv with separator ';', decimal mark ',' and "
                   "encoding cp1252 (--sep/--encoding to change)\n")


@pytest.mark.parametrize(("sep", "encoding"), [(";", "latin-1"), (";", "cp1252")])
def test_sep_and_encoding_options(capsys, tmp_path, sep, encoding):
    path = write_european_csv(tmp_path)
    status, out, _ = run(capsys, "fit", EUROPEAN, "--data", str(path), "--sep", sep,
                         "--encoding", encoding)
    assert status == 0
    assert out == expected_european_summary(path)


@pytest.mark.parametrize(("separator", "name"), [("\t", "data.csv"), ("|", "data.csv.gz")])
def test_tab_and_pipe_separated_files(capsys, tmp_path, separator, name):
    path = tmp_path / name
    lmmpy.datasets.load("sleepstudy").to_csv(path, sep=separator, index=False)
    status, out, _ = run(capsys, "fit", SLEEPSTUDY, "--data", str(path))
    assert status == 0
    assert out == api_summary(SLEEPSTUDY, lmmpy.datasets.load("sleepstudy"), name)


def test_a_utf8_file_with_a_byte_order_mark(capsys, tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(lmmpy.datasets.load("sleepstudy").to_csv(index=False).encode("utf-8-sig"))
    status, out, err = run(capsys, "fit", SLEEPSTUDY, "--data", str(path))
    assert status == 0, err
    assert err == ""
    assert out == api_summary(SLEEPSTUDY, lmmpy.datasets.load("sleepstudy"), "bom.csv")


def test_a_wrong_encoding_says_how_to_give_the_right_one(capsys, tmp_path):
    path = write_european_csv(tmp_path)
    status, out, err = run(capsys, "fit", EUROPEAN, "--data", str(path), "--encoding", "utf-8")
    assert (status, out) == (2, "")
    assert err.startswith("lmmpy: error: cannot read export.csv as a CSV file with separator "
                          "';' and encoding utf-8: 'utf-8' codec can't decode byte 0xfc")
    assert err.endswith(". Give the separator with --sep (e.g. --sep ';') and the encoding "
                        "with --encoding (e.g. --encoding latin-1)\n")
    assert "Traceback" not in err


def test_an_unknown_encoding_is_an_error(capsys, tmp_path):
    status, _, err = run(capsys, "fit", SLEEPSTUDY, "--data", str(write_csv(tmp_path)),
                         "--encoding", "no-such-codec")
    assert status == 2
    assert err == ("lmmpy: error: unknown encoding 'no-such-codec' (--encoding); "
                   "common ones are utf-8, latin-1 and cp1252\n")


def test_a_file_that_does_not_parse_says_to_give_the_separator(capsys, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('y,x,g\n1,2,a\n3,4,b,5,6\n"7,8,c\n')
    status, _, err = run(capsys, "fit", "y ~ x + (1 | g)", "--data", str(path))
    assert status == 2
    assert err.startswith("lmmpy: error: cannot read ragged.csv as a CSV file with separator ','")
    assert "--sep" in err


@pytest.mark.parametrize(("formula", "message"), [
    ("Reaction ~ . + (1 | Subject)", "'.' (all other columns) is not supported"),
    ("Reaction ~ Days + {1 | Subject}", "must be in round parentheses: (1 | Subject)"),
    ("Reaction ~ factor(Days) + (1 | Subject)", "use C(Days)"),
])
def test_formulas_formulaic_would_choke_on_are_one_line_errors(capsys, formula, message):
    status, out, err = run(capsys, "fit", formula, "--data", "sleepstudy")
    assert (status, out) == (2, "")
    assert err.startswith("lmmpy: error: ")
    assert message in err
    assert "Traceback" not in err


def test_an_unexpected_exception_is_one_line_too(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("nlopt failure")

    monkeypatch.setattr("lmmpy.cli.lmer", broken)
    status, out, err = run(capsys, "fit", SLEEPSTUDY, "--data", "sleepstudy")
    assert (status, out) == (2, "")
    assert err == "lmmpy: error: RuntimeError: nlopt failure\n"


def test_a_model_too_large_is_one_line(capsys, monkeypatch):
    from lmmpy.objective._fill import FactorTooLargeError

    def too_large(*args, **kwargs):
        raise FactorTooLargeError("this model is too large to fit: ...")

    monkeypatch.setattr("lmmpy.cli.lmer", too_large)
    status, _, err = run(capsys, "fit", SLEEPSTUDY, "--data", "sleepstudy")
    assert status == 2
    assert err == "lmmpy: error: FactorTooLargeError: this model is too large to fit: ...\n"


def test_python_dash_m_formula_error_has_no_traceback():
    result = run_module("fit", "Reaction ~ . + (1 | Subject)", "--data", "sleepstudy")
    assert result.returncode == 2
    assert result.stderr.startswith("lmmpy: error: '.' (all other columns) is not supported")
    assert "Traceback" not in result.stderr
