"""User guide, part 3: within- and between-group effects (the ``simpson`` data).

Simulated: in each of 30 groups y falls with x, but groups with a higher mean x
have a higher mean y.  Complete pooling gets the sign of the effect of x wrong;
the within-between model estimates both effects.  Writes ``simpson.png`` into the
figure folder.

Run with ``python examples/guide_simpson.py [figure folder]`` (default docs/figures).
"""

import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import lmmpy
from lmmpy.plots import simpson_plot


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = lmmpy.datasets.load("simpson")
    print(f"{len(data)} observations in {data['g'].nunique()} groups")
    simpson_plot(data, "x", "y", "g").figure.savefig(out / "simpson.png", dpi=90)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        cmp = lmmpy.compare_pooling("y ~ x + (1 | g)", data)
    print("coefficient of x:")
    print(cmp.coefficients.loc["x"].round(3).to_string())
    print(cmp.tests.to_string(float_format=lambda v: f"{v:.4g}"))
    print()

    split = lmmpy.within_between(data, "x", "g")
    m = lmmpy.lmer("y ~ x_within + x_between + (1 | g)", split)
    print("y ~ x_within + x_between + (1 | g):")
    print(f"{'':12}{'estimate':>10}{'SE':>8}")
    for name in ("x_within", "x_between"):
        print(f"{name:12}{m.fixef[name]:10.3f}{m.fixef_se[name]:8.3f}")
    contextual = lmmpy.lmer("y ~ x + x_between + (1 | g)", split)
    print(f"contextual effect (x_between in y ~ x + x_between + (1 | g)): "
          f"{contextual.fixef['x_between']:.3f} (SE {contextual.fixef_se['x_between']:.3f})")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/figures"))
