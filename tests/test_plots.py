"""Every plot renders to a PNG with the Agg backend and shows what it should."""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Annotation

import lmmpy
from lmmpy import plots
from lmmpy.plots._residuals import _ppoints

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@functools.cache
def sleep_model() -> lmmpy.LinearMixedModel:
    return lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))


@functools.cache
def sleep_comparison():
    return sleep_model().compare_pooling()


@functools.cache
def simpson_comparison():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        return lmmpy.compare_pooling("y ~ x + (1 | g)", lmmpy.datasets.load("simpson"))


def render(figure, tmp_path) -> None:
    path = tmp_path / "figure.png"
    figure.savefig(path, dpi=50)
    assert path.read_bytes()[:8] == PNG_MAGIC


def scatter_sizes(ax) -> list[int]:
    return [len(collection.get_offsets()) for collection in ax.collections]


def arrows(ax) -> list[Annotation]:
    return [text for text in ax.texts if isinstance(text, Annotation)]


def test_import_lmmpy_does_not_import_matplotlib():
    code = ("import sys, lmmpy, lmmpy.plots, lmmpy.diagnostics; "
            "sys.exit('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_residual_plot(tmp_path):
    m = sleep_model()
    ax = plots.residual_plot(m)
    render(ax.figure, tmp_path)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("fitted values", "residuals")
    assert scatter_sizes(ax) == [m.nobs]
    assert np.allclose(ax.collections[0].get_offsets()[:, 1], m.residuals)
    assert len(ax.lines) == 1  # the zero line


def test_residual_plot_draws_on_given_axes():
    _, given = plt.subplots()
    assert plots.residual_plot(sleep_model(), ax=given) is given


@pytest.mark.parametrize("which, effect, n, label", [
    ("residuals", None, 180, "residuals"),
    ("Subject", None, 18, "(Intercept) | Subject"),
    ("Subject", "Days", 18, "Days | Subject"),
])
def test_qq_plot(tmp_path, which, effect, n, label):
    ax = plots.qq_plot(sleep_model(), which, effect)
    render(ax.figure, tmp_path)
    assert scatter_sizes(ax) == [n]
    assert ax.get_xlabel() == "standard normal quantiles"
    assert ax.get_ylabel() == f"{label} (sample quantiles)"
    points = ax.collections[0].get_offsets()
    assert np.all(np.diff(points[:, 0]) > 0) and np.all(np.diff(points[:, 1]) >= 0)
    assert len(ax.lines) == 1  # the quartile line


def test_qq_plot_positions_are_r_ppoints():
    """R: qnorm(ppoints(18)) — (i − 1/2)/n for n > 10; (i − 3/8)/(n + 1/4) for n ≤ 10."""
    assert np.allclose(_ppoints(18), (np.arange(1, 19) - 0.5) / 18)
    assert np.allclose(_ppoints(5), (np.arange(1, 6) - 3 / 8) / (5 + 1 / 4))


@pytest.mark.parametrize("which, effect, message", [
    ("Subjects", None, "'Subjects' is not a grouping factor of the model; it has: Subject"),
    ("Subject", "days", "'days' is not a random effect of 'Subject'; it has: (Intercept), Days"),
    ("residuals", "Days", "effect is only used with a grouping factor"),
])
def test_qq_plot_bad_input(which, effect, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plots.qq_plot(sleep_model(), which, effect)


def test_caterpillar_plot(tmp_path):
    m = sleep_model()
    figure = plots.caterpillar_plot(m)
    render(figure, tmp_path)
    assert len(figure.axes) == 2
    assert [ax.get_title() for ax in figure.axes] == ["(Intercept) | Subject", "Days | Subject"]
    order = m.ranef["Subject"]["(Intercept)"].sort_values(kind="stable").index
    labels = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    assert labels == list(order)
    for ax, effect in zip(figure.axes, ["(Intercept)", "Days"], strict=True):
        (container,) = ax.containers
        points = container.lines[0].get_xdata()
        assert np.allclose(points, m.ranef["Subject"].loc[order, effect])
        (bars,) = container.lines[2]
        half_widths = [abs(seg[1, 0] - seg[0, 0]) / 2 for seg in bars.get_segments()]
        assert np.allclose(half_widths, 1.959964 * m.ranef_condsd["Subject"].loc[order, effect],
                           rtol=1e-6)


def test_caterpillar_plot_on_given_axes_and_bad_input():
    _, axes = plt.subplots(1, 2)
    assert plots.caterpillar_plot(sleep_model(), ax=axes) is axes[0].figure
    with pytest.raises(ValueError, match="ax must hold 2 Axes, one per panel, not 1"):
        plots.caterpillar_plot(sleep_model(), ax=axes[0])
    with pytest.raises(ValueError, match="'Day' is not a grouping factor"):
        plots.caterpillar_plot(sleep_model(), "Day")
    with pytest.raises(ValueError, match="level must be between 0 and 1, not 95"):
        plots.caterpillar_plot(sleep_model(), level=95)


def test_simpson_plot(tmp_path):
    data = lmmpy.datasets.load("simpson")
    ax = plots.simpson_plot(data, "x", "y", "g")
    render(ax.figure, tmp_path)
    n_groups = data["g"].nunique()
    assert len(ax.lines) == n_groups + 2  # within-group lines, between line, pooled line
    assert scatter_sizes(ax) == [len(data), n_groups]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[:3] == ["observations", "within-group OLS", "group means"]
    pooled = np.polyfit(data["x"], data["y"], 1)[0]
    assert f"pooled OLS (slope {pooled:.3g})" in labels
    means = data.groupby("g").mean(numeric_only=True)
    between = np.polyfit(means["x"], means["y"], 1)[0]
    assert f"between groups: OLS on means (slope {between:.3g})" in labels
    assert pooled > 0 > np.polyfit(data.loc[data.g == "g01", "x"],
                                   data.loc[data.g == "g01", "y"], 1)[0]


def test_simpson_plot_skips_groups_without_spread():
    data = pd.DataFrame({"x": [0.0, 1.0, 2.0, 5.0, 5.0], "y": [1.0, 2.0, 2.5, 4.0, 4.5],
                         "g": ["a", "a", "a", "b", "b"]})
    ax = plots.simpson_plot(data, "x", "y", "g")
    assert len(ax.lines) == 1 + 1 + 1  # a's line, between, pooled


@pytest.mark.parametrize("args, error, message", [
    (("data", "x", "y", "g"), TypeError, "data must be a pandas DataFrame, not str"),
    ((None, "x", "z", "g"), ValueError, "column 'z' is not in the data"),
    ((None, "g", "y", "g"), TypeError, "column 'g' must be numeric"),
])
def test_simpson_plot_bad_input(args, error, message):
    data = lmmpy.datasets.load("simpson")
    args = (data, *args[1:]) if args[0] is None else args
    with pytest.raises(error, match=message):
        plots.simpson_plot(*args)


def test_shrinkage_plot_2d_from_model(tmp_path):
    m = sleep_model()
    ax = plots.shrinkage_plot(m)
    render(ax.figure, tmp_path)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("(Intercept)", "Days")
    assert scatter_sizes(ax) == [18, 18, 1]
    assert len(arrows(ax)) == 18
    assert np.allclose(ax.collections[1].get_offsets(), m.coef["Subject"][["(Intercept)", "Days"]])
    assert np.allclose(ax.collections[2].get_offsets(), [m.fixef.to_numpy()])
    for arrow in arrows(ax):  # each arrow ends at a partial-pooling point
        assert np.any(np.all(np.isclose(ax.collections[1].get_offsets(), arrow.xy), axis=1))


def test_shrinkage_plot_1d_from_comparison(tmp_path):
    cmp = simpson_comparison()
    ax = plots.shrinkage_plot(cmp)
    render(ax.figure, tmp_path)
    table = cmp.group_estimates
    n = len(table)
    assert scatter_sizes(ax) == [n, n] and len(arrows(ax)) == n
    assert ax.get_xlabel() == "(Intercept)" and ax.get_ylabel() == "g"
    (line,) = ax.lines
    assert line.get_xdata()[0] == pytest.approx(cmp.coefficients.loc["(Intercept)", "partial"])
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels == list(table[("none", "(Intercept)")].sort_values(kind="stable").index)


def test_shrinkage_plot_one_effect_of_two():
    ax = plots.shrinkage_plot(sleep_comparison(), effects="Days")
    assert ax.get_xlabel() == "Days" and len(arrows(ax)) == 18


@pytest.mark.parametrize("kwargs, error, message", [
    ({"effects": "days"}, ValueError, "'days' has no group-level estimates; choose from: "
                                      r"\(Intercept\), Days"),
    ({"effects": ["(Intercept)", "Days", "Days"]}, ValueError,
     "effects must name one or two coefficients, not 3"),
    ({"group": "Day"}, ValueError, "'Day' is not a grouping factor of the comparison"),
])
def test_shrinkage_plot_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        plots.shrinkage_plot(sleep_comparison(), **kwargs)


def test_shrinkage_plot_needs_a_model_or_comparison():
    with pytest.raises(TypeError, match="needs a fitted model or a PoolingComparison, not int"):
        plots.shrinkage_plot(3)


def synthetic_profile() -> pd.DataFrame:
    values = np.linspace(-1, 1, 9)
    return pd.DataFrame({
        "parameter": ["sigma"] * 9 + ["(Intercept)"] * 9,
        "value": np.concatenate([1 + values, 5 + 2 * values]),
        "zeta": np.concatenate([3 * values, 2.5 * values]),
    })


def test_profile_plot_from_frame(tmp_path):
    figure = plots.profile_plot(synthetic_profile())
    render(figure, tmp_path)
    assert [ax.get_title() for ax in figure.axes] == ["sigma", "(Intercept)"]
    for ax in figure.axes:
        zeta_line, *levels = ax.lines
        assert len(zeta_line.get_xdata()) == 9
        heights = sorted(line.get_ydata()[0] for line in levels)
        assert heights == pytest.approx([-1.959964, 0.0, 1.959964], abs=1e-6)
    assert figure.axes[0].get_ylabel() == "ζ (profile zeta)"


def test_profile_plot_from_model(tmp_path):
    m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"), reml=False)
    profile = m.profile()
    figure = plots.profile_plot(m)
    render(figure, tmp_path)
    assert len(figure.axes) == profile["parameter"].nunique()


def test_profile_plot_bad_input():
    with pytest.raises(ValueError, match="profile table lacks column"):
        plots.profile_plot(pd.DataFrame({"parameter": ["a"], "value": [1.0]}))
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        plots.profile_plot(synthetic_profile(), level=1.5)


def test_profile_plot_wraps_after_three_panels():
    frame = pd.concat([synthetic_profile().assign(parameter=name) for name in "abcd"])
    figure = plots.profile_plot(frame)
    assert [ax.get_title() for ax in figure.axes] == list("abcd")  # the unused fifth is removed
    rows = sorted({round(ax.get_position().y0, 3) for ax in figure.axes})
    assert len(rows) == 2
    zeta = "ζ (profile zeta)"
    assert [ax.get_ylabel() for ax in figure.axes] == [zeta, "", "", zeta]


@functools.cache
def schools_model() -> lmmpy.LinearMixedModel:
    return lmmpy.lmer("y ~ x + (x | school) + (1 | school:class)",
                      lmmpy.datasets.load("sim_schools"))


def test_caterpillar_plot_scales_with_the_levels(tmp_path):
    m = schools_model()
    many = plots.caterpillar_plot(m, "school:class")
    n_levels = m.ngroups["school:class"]
    assert n_levels > 60
    assert many.axes[0].get_yticklabels() == []            # too many names to print
    assert len(many.axes[0].lines[0].get_xdata()) == n_levels
    named = plots.caterpillar_plot(m, "school")
    assert len(named.axes[0].get_yticklabels()) == 40
    assert named.get_size_inches()[1] == pytest.approx(0.2 * 40 + 1.2)
    assert named.get_size_inches()[1] > plots.caterpillar_plot(sleep_model()).get_size_inches()[1]
    forced = plots.caterpillar_plot(m, "school:class", labels=True)
    assert len(forced.axes[0].get_yticklabels()) == n_levels
    render(many, tmp_path)


def test_caterpillar_plot_top_n_keeps_the_most_extreme_levels():
    m = schools_model()
    figure = plots.caterpillar_plot(m, "school", top_n=6)
    shown = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    intercepts = m.ranef["school"]["(Intercept)"]
    expected = intercepts.abs().sort_values(ascending=False).index[:6]
    assert sorted(shown) == sorted(map(str, expected))
    assert shown == [str(s) for s in intercepts.loc[expected].sort_values().index]
    assert "6 most extreme" in figure.axes[0].get_ylabel()
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="top_n must be a positive whole number"):
            plots.caterpillar_plot(m, "school", top_n=bad)


def test_check_model_draws_six_checks(tmp_path):
    figure = plots.check_model(schools_model())
    titles = [ax.get_title() for ax in figure.axes]
    assert titles == ["Linearity", "Homogeneity of variance", "Normality of residuals",
                      "Normality of random effects", "Influence by group", "Observed vs fitted"]
    influence = figure.axes[4]
    assert len(influence.collections[-1].get_offsets()) == 40       # one point per school
    assert len(figure.axes[3].collections) == 3                      # three random effects
    render(figure, tmp_path)


def test_check_model_with_crossed_factors_says_why_there_is_no_influence():
    m = lmmpy.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", lmmpy.datasets.load("Penicillin"))
    panel = plots.check_model(m).axes[4]
    assert "crossed factors" in panel.texts[0].get_text()


def test_smoother_follows_a_curve():
    from lmmpy.plots._check import smooth

    x = np.linspace(-2, 2, 400)
    grid, fitted = smooth(x, x**2, span=0.1)
    # a local line's bias on a parabola is about (half-width)²/6: 0.2²/6 here
    assert np.max(np.abs(fitted - grid**2)) < 0.02
    assert fitted[len(grid) // 2] == pytest.approx(0.0, abs=0.01)


@functools.cache
def cake_model():
    return lmmpy.lmer("angle ~ recipe + temp + (1 | recipe:replicate)", lmmpy.datasets.load("cake"))


def test_effect_plot_lines_and_bands_are_the_predictions(tmp_path):
    m = cake_model()
    ax = plots.effect_plot(m, "temp", by="recipe", level=0.9)
    assert [line.get_label() for line in ax.lines] == ["recipe = A", "recipe = B", "recipe = C"]
    x, y = ax.lines[1].get_xdata(), ax.lines[1].get_ydata()
    assert x.min() == 175 and x.max() == 225
    expected = m.fixef["(Intercept)"] + m.fixef["recipe[T.B]"] + m.fixef["temp"] * x
    np.testing.assert_allclose(y, expected, rtol=1e-10)
    band = ax.collections[1].get_paths()[0].vertices[:, 1]
    grid = pd.DataFrame({"temp": x[[0]], "recipe": pd.Categorical(["B"], categories=list("ABC"))})
    interval = m.predict(grid, re_form=False, se_fit=True, interval="confidence", level=0.9)
    assert band.min() == pytest.approx(float(interval["lower"].iloc[0]))
    render(ax.figure, tmp_path)


def test_effect_plot_of_a_factor_and_numeric_by():
    m = lmmpy.lmer("angle ~ recipe * temp + (1 | recipe:replicate)", lmmpy.datasets.load("cake"))
    ax = plots.effect_plot(m, "recipe", by="temp")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B", "C"]
    temps = lmmpy.datasets.load("cake")["temp"]
    low = temps.mean() - temps.std()
    assert ax.get_legend_handles_labels()[1][0] == f"temp = {low:.3g}"


def test_effect_plot_holds_other_variables_and_draws_data():
    cake = lmmpy.datasets.load("cake")
    m = cake_model()
    ax = plots.effect_plot(m, "temp", data=cake, at={"recipe": "C"})
    assert len(ax.collections[0].get_offsets()) == len(cake)      # the observations
    assert "recipe = C" in ax.texts[-1].get_text()
    y = ax.lines[0].get_ydata()
    np.testing.assert_allclose(y[0], m.fixef["(Intercept)"] + m.fixef["recipe[T.C]"]
                               + 175 * m.fixef["temp"])


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    (("Days",), {}, "'Days' is not a variable of the fixed part"),
    (("temp",), {"by": "temp"}, "by must be another variable"),
    (("temp",), {"at": {"oven": 1}}, "at names 'oven'"),
    (("temp",), {"level": 1.5}, "level must be between 0 and 1"),
])
def test_effect_plot_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plots.effect_plot(cake_model(), *args, **kwargs)


def test_effect_plot_needs_data_for_a_transformed_variable():
    m = lmmpy.lmer("Reaction ~ np.log1p(Days) + (1 | Subject)", lmmpy.datasets.load("sleepstudy"))
    with pytest.raises(ValueError, match="pass the fitted data as data="):
        plots.effect_plot(m, "Days")
    ax = plots.effect_plot(m, "Days", data=lmmpy.datasets.load("sleepstudy"))
    assert ax.lines[0].get_xdata().max() == 9


@functools.cache
def group_level_model():
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(25), 8)
    z, x = rng.normal(size=25), rng.normal(size=200)
    y = 1 + 2 * z[g] + 0.5 * x + 0.7 * z[g] * x + rng.normal(size=25)[g] \
        + 0.3 * rng.normal(size=25)[g] * x + rng.normal(size=200)
    data = pd.DataFrame({"y": y, "x": x, "z": z[g], "g": [f"g{i:02d}" for i in g]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        return lmmpy.lmer("y ~ x * z + (x | g)", data)


def test_shrinkage_plot_with_group_level_predictors_marks_each_groups_target():
    m = group_level_model()
    targets = m.compare_pooling().group_estimates["target"]
    ax = plots.shrinkage_plot(m)
    labels = ax.get_legend_handles_labels()[1]
    assert "population estimate β̂" not in labels
    marker = ax.collections[labels.index("each group's target: β̂ with its group-level "
                                         "predictors")]
    np.testing.assert_allclose(marker.get_offsets(), targets[["(Intercept)", "x"]].to_numpy())
    expected = m.fixef["(Intercept)"] + m.fixef["z"] * m.compare_pooling().group_estimates[
        "size"].index.map(lambda level: float(group_z(m)[level]))
    np.testing.assert_allclose(targets["(Intercept)"], expected, rtol=1e-8)
    one = plots.shrinkage_plot(m, effects="x")
    assert len(one.collections) == 3 and not one.lines    # no single population line


def group_z(model):
    X = pd.DataFrame(model.design.X.values, columns=model.design.X.names)
    codes = model.design.terms[0].codes
    return pd.Series(X["z"].to_numpy(), index=model.design.terms[0].levels[codes]) \
        .groupby(level=0).first()


def test_shrinkage_plot_without_group_level_predictors_has_one_target():
    ax = plots.shrinkage_plot(sleep_model())
    assert "population estimate β̂" in ax.get_legend_handles_labels()[1]
    table = sleep_comparison().group_estimates
    np.testing.assert_allclose(table[("target", "Days")], sleep_model().fixef["Days"])


def test_binned_residuals_plot(tmp_path):
    from lmmpy.plots import binned_residuals_plot

    model = lmmpy.glmer("y ~ trt + I(week > 2) + (1 | ID)", lmmpy.datasets.load("bacteria"))
    ax = binned_residuals_plot(model)
    render(ax.figure, tmp_path)
    from lmmpy.diagnostics import binned_residuals

    table = binned_residuals(model)
    points = np.vstack([c.get_offsets() for c in ax.collections])
    assert len(points) == len(table)
    np.testing.assert_allclose(np.sort(points[:, 1]), np.sort(table["ybar"]))
    assert len(ax.lines) == 3   # the band's two edges and zero
    assert ax.get_title().startswith("Binned residuals (")
