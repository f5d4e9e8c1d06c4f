"""User guide, part 4: a large crossed design (``InstEval``, 73,421 ratings).

Students rate lecturers: ratings are grouped by student (s) and by lecturer (d),
two crossed factors, and by department × service course.  Prints the variance
components, the ICC of each grouping factor and the R²; writes
``insteval_lecturers.png`` (QQ plot of the lecturer effects and caterpillar plot of
the department × service effects) into the figure folder.

Run with ``python examples/guide_insteval.py [figure folder]`` (default docs/figures);
the fit takes about a minute.
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import lmmpy
from lmmpy.plots import caterpillar_plot, qq_plot

FORMULA = "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)"


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = lmmpy.datasets.load("InstEval")
    m = lmmpy.lmer(FORMULA, data, reml=False)
    print(f"{m.nobs} ratings; groups: {m.ngroups}")
    print(m.fixef.round(4).to_string())
    print(m.varcorr[["grp", "vcov", "sdcor"]].round(4).to_string(index=False))
    print("ICC by group:")
    print(m.icc(by_group=True).round(3).to_string())
    r2 = m.r2()
    print(f"marginal R2 {r2.r2_marginal:.4f}, conditional R2 {r2.r2_conditional:.3f}")
    ratings = data.groupby("d", observed=True).size()
    print(f"ratings per lecturer: median {ratings.median():.0f}, min {ratings.min()}, "
          f"max {ratings.max()}")
    try:
        m.compare_pooling()
    except ValueError as error:
        print(f"compare_pooling: {error}")
    figure, axes = plt.subplots(1, 2, figsize=(11, 5.5), layout="constrained",
                                gridspec_kw={"width_ratios": [1, 1.2]})
    qq_plot(m, "d", ax=axes[0])
    caterpillar_plot(m, "dept:service", ax=axes[1])
    figure.savefig(out / "insteval_lecturers.png", dpi=90)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/figures"))
