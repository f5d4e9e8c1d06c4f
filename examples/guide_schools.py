"""User guide, part 2: pupils in classes in schools (``sim_schools``).

How much of the variation lies between schools, between classes within schools,
and between pupils; what the clustering costs in effective sample size; what the
predictors explain.  Writes ``schools_caterpillar.png`` into the figure folder.

Run with ``python examples/guide_schools.py [figure folder]`` (default docs/figures).
"""

import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import lmmpy
from lmmpy.diagnostics import design_effect
from lmmpy.plots import caterpillar_plot


def variance_partition(schools) -> None:
    null = lmmpy.lmer("y ~ 1 + (1 | school) + (1 | school:class)", schools)
    print("Null model y ~ 1 + (1 | school) + (1 | school:class)")
    print(null.varcorr[["grp", "vcov", "sdcor"]].round(3).to_string(index=False))
    print("share of the variance at each level (ICC by group):")
    print(null.icc(by_group=True).round(3).to_string())
    print(f"pupil level: {1 - null.icc().icc_adjusted:.3f}")
    print()


def effective_sample_size(schools) -> None:
    school_only = lmmpy.lmer("y ~ 1 + (1 | school)", schools)
    deff = design_effect(school_only)
    size = school_only.nobs / school_only.ngroups["school"]
    print("Single random intercept y ~ 1 + (1 | school)")
    print(f"ICC {school_only.icc().icc_adjusted:.3f}, mean school size {size:.1f}, "
          f"design effect {deff:.1f}")
    print(f"effective sample size for the mean: {school_only.nobs} / {deff:.1f} = "
          f"{school_only.nobs / deff:.0f}")
    print()


def full_model(schools, out: Path) -> None:
    m = lmmpy.lmer("y ~ x + z + (x | school) + (1 | school:class)", schools)
    print("Full model y ~ x + z + (x | school) + (1 | school:class)")
    print(m.fixef.round(3).to_string())
    r2 = m.r2()
    print(f"marginal R2 {r2.r2_marginal:.3f}, conditional R2 {r2.r2_conditional:.3f}")
    icc = m.icc()
    print(f"adjusted ICC {icc.icc_adjusted:.3f}, conditional ICC {icc.icc_conditional:.3f}")
    figure = caterpillar_plot(m, "school")
    figure.set_size_inches(9, 7)
    figure.savefig(out / "schools_caterpillar.png", dpi=90)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    schools = lmmpy.datasets.load("sim_schools")
    print(f"{len(schools)} pupils, {schools['school'].nunique()} schools, "
          f"{schools.groupby(['school', 'class'], observed=True).ngroups} classes")
    print()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.ApproximationWarning)
        variance_partition(schools)
        effective_sample_size(schools)
        full_model(schools, out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/figures"))
