"""User guide, part 1: complete, no and partial pooling on ``sleepstudy``.

Reaction times of 18 subjects over 10 days of sleep deprivation.  Compares the
three ways of treating the subjects, shows the shrinkage of each subject's line,
the ICC and R², and checks the model.  Writes ``sleepstudy_shrinkage.png``,
``sleepstudy_caterpillar.png``, ``sleepstudy_checks.png`` and
``sleepstudy_profile.png`` into the figure folder.

Run with ``python examples/guide_sleepstudy.py [figure folder]`` (default docs/figures).
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import lmmpy
from lmmpy.plots import caterpillar_plot, profile_plot, qq_plot, residual_plot, shrinkage_plot

FORMULA = "Reaction ~ Days + (Days | Subject)"


def pooling(sleep, out: Path) -> lmmpy.LinearMixedModel:
    m = lmmpy.lmer(FORMULA, sleep)
    cmp = m.compare_pooling()
    print(cmp)
    for approach in ("none", "partial"):
        slopes = cmp.group_estimates[(approach, "Days")]
        print(f"slopes of the subjects ({approach}): {slopes.min():.2f} to {slopes.max():.2f}, "
              f"SD {slopes.std():.2f}")
    own, pooled = cmp.group_estimates.loc["352", [("none", "Days"), ("partial", "Days")]]
    print(f"subject 352's slope: {own:.2f} (none) -> {pooled:.2f} (partial)")
    print()
    shrinkage_plot(cmp).figure.savefig(out / "sleepstudy_shrinkage.png", dpi=90)
    return m


def variance_shares(m: lmmpy.LinearMixedModel) -> None:
    icc, r2 = m.icc(), m.r2()
    parts = icc.variances
    print(f"variances: fixed {parts.fixed:.1f}, random {parts.random:.1f}, "
          f"residual {parts.residual:.1f}")
    print(f"ICC adjusted {icc.icc_adjusted:.3f}, conditional {icc.icc_conditional:.3f}")
    print(f"R2 marginal {r2.r2_marginal:.3f}, conditional {r2.r2_conditional:.3f}")
    print()


def checks(m: lmmpy.LinearMixedModel, out: Path) -> None:
    caterpillar_plot(m).savefig(out / "sleepstudy_caterpillar.png", dpi=90)
    figure, axes = plt.subplots(2, 2, figsize=(10, 8), layout="constrained")
    residual_plot(m, ax=axes[0, 0])
    qq_plot(m, "residuals", ax=axes[0, 1])
    qq_plot(m, "Subject", "(Intercept)", ax=axes[1, 0])
    qq_plot(m, "Subject", "Days", ax=axes[1, 1])
    figure.savefig(out / "sleepstudy_checks.png", dpi=80)
    worst = m.residuals.abs().idxmax()
    print(f"largest residual: {m.residuals[worst]:.1f} ms (row {worst}, "
          f"subject {lmmpy.datasets.load('sleepstudy').loc[worst, 'Subject']})")
    profile_plot(m).savefig(out / "sleepstudy_profile.png", dpi=80)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    sleep = lmmpy.datasets.load("sleepstudy")
    m = pooling(sleep, out)
    variance_shares(m)
    checks(m, out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/figures"))
