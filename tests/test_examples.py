"""The user guide's example scripts run, write their figures, and print the guide's numbers.

docs/guide.md quotes numbers printed by examples/guide_*.py; each quoted number
is listed here and must appear both in the script's output and in the guide (a pair:
as printed, as the guide words it), so
the guide cannot drift from the code.  The InstEval script takes about a minute
and runs only with LMMPY_SLOW_TESTS=1.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt

ROOT = Path(__file__).parent.parent
GUIDE = (ROOT / "docs" / "guide.md").read_text().replace("−", "-")

QUOTED = {
    "sleepstudy": ["10.467", "(1.24)", "(0.664)", "(1.55)", "1711.87", "1763.94",
                   "1830.01", "1783.10", "13.96", "-2.88", "21.76", "6.56", "-0.28", "19.67",
                   "5.46", "13.57", "14.00", "132.5", "0.722", "0.279", "0.799"],
    "schools": ["6455", "431", "16.616", "2.114", "21.404", "0.414", "0.053", "0.533",
                "0.421", "161.4", "68.6", "= 94", "0.175", "0.597", "0.511"],
    "simpson": ["1.420", "-0.943", "-0.905", "29.72", "0.062", "1.959", "0.101", "2.901",
                "0.119"],
    "insteval": ["0.1054", "0.2625", "0.0109", "1.3850", "0.060", "0.149", "0.006", "-0.0541",
                 "0.0004", "0.215", "median 31", ("min 10", "between 10"), ("max 792", "and 792"),
                 "73421 × 4130"],
}
FIGURES = {
    "sleepstudy": ["sleepstudy_shrinkage.png", "sleepstudy_caterpillar.png",
                   "sleepstudy_checks.png", "sleepstudy_profile.png"],
    "schools": ["schools_caterpillar.png"],
    "simpson": ["simpson.png"],
    "insteval": ["insteval_lecturers.png"],
}
SLOW = {"insteval"}


def run_script(name: str, out: Path) -> None:
    path = ROOT / "examples" / f"guide_{name}.py"
    spec = importlib.util.spec_from_file_location(f"guide_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module.main(out)
    plt.close("all")


@pytest.mark.parametrize("name", sorted(QUOTED))
def test_guide_script(name, tmp_path, capsys):
    if name in SLOW and not os.environ.get("LMMPY_SLOW_TESTS"):
        pytest.skip("slow (about a minute); set LMMPY_SLOW_TESTS=1")
    run_script(name, tmp_path)
    printed = capsys.readouterr().out
    for figure in FIGURES[name]:
        assert (tmp_path / figure).stat().st_size > 10_000, figure
        assert (ROOT / "docs" / "figures" / figure).exists(), f"{figure} not in docs/figures"
    for number in QUOTED[name]:
        number, quoted = number if isinstance(number, tuple) else (number, number)
        assert number in printed, f"{number!r} not printed by guide_{name}.py"
        quoted = quoted.strip("()").removeprefix("= ")
        assert quoted in GUIDE, f"{quoted!r} not in the guide"
