"""model_table: the contract of the side-by-side table (numbers from tidy/glance)."""

import pytest

import lmmpy
from lmmpy.report import ModelTable, model_table


@pytest.fixture(scope="module")
def models():
    sleep = lmmpy.datasets.load("sleepstudy")
    return (lmmpy.lmer("Reaction ~ Days + (1 | Subject)", sleep),
            lmmpy.lmer("Reaction ~ Days + (Days | Subject)", sleep, reml=False),
            lmmpy.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)",
                       lmmpy.datasets.load("Penicillin")))


def test_rows_and_cells_follow_tidy_and_glance(models):
    m0, m1, _ = models
    table = model_table([m0, m1], names=["intercept", "slope"])
    assert isinstance(table, ModelTable)
    frame = table.frame
    assert list(frame.columns) == ["intercept", "slope"]
    assert frame.loc["Days"].tolist() == [f"{m.fixef['Days']:.3f}" for m in (m0, m1)]
    se_row = list(frame.index).index("Days") + 1
    assert frame.iloc[se_row].tolist() == [f"({m.fixef_se['Days']:.3f})" for m in (m0, m1)]
    assert frame.loc["Cor (Intercept), Days | Subject"].tolist()[0] == ""   # m0 has none
    assert frame.loc["SD (Observations)", "slope"] == f"{m1.sigma:.3f}"
    assert frame.loc["N"].tolist() == ["180", "180"]
    assert frame.loc["Estimation"].tolist() == ["REML", "ML"]
    assert frame.loc["AIC", "slope"] == f"{m1.aic:.3f}"
    assert [name for name, _ in table.sections] == ["fixed", "random", "fit"]
    assert sum(count for _, count in table.sections) == len(frame)
    assert list(frame.index).index("SD (Observations)") == \
        table.sections[0][1] + table.sections[1][1] - 1   # the residual closes the section


def test_models_with_different_terms_and_groups(models):
    m0, _, penicillin = models
    frame = model_table([m0, penicillin]).frame
    assert frame.loc["Days"].tolist() == [f"{m0.fixef['Days']:.3f}", ""]
    assert frame.loc["Groups: plate"].tolist() == ["", "24"]
    assert frame.loc["Groups: Subject"].tolist() == ["18", ""]
    assert list(frame.columns) == ["(1)", "(2)"]


def test_intervals_and_stars(models):
    m0 = models[0]
    table = model_table([m0], uncertainty="ci", stars=True, digits=2)
    tidy = m0.tidy("fixed", conf_int=True).set_index("term")
    assert table.frame.loc["Days"].iloc[0] == f"{m0.fixef['Days']:.2f}***"
    row = list(table.frame.index).index("Days") + 1
    assert table.frame.iloc[row, 0] == (f"[{tidy.loc['Days', 'conf_low']:.2f}, "
                                        f"{tidy.loc['Days', 'conf_high']:.2f}]")
    assert "Wald intervals" in table.note and "*** p < 0.001" in table.note
    no_spread = model_table([m0], uncertainty="none").frame
    assert "" not in no_spread.index[:2].tolist()


def test_output_formats(models):
    table = model_table(models[:2], names=["a", "b|c"], stars=True)
    markdown = table.to_markdown()
    assert markdown.startswith("| ") and "b\\|c" in markdown and "| Days |" in markdown
    latex = table.to_latex()
    assert latex.count("\\midrule") == 3 and "\\textbar{}" in latex
    assert "\\multicolumn{3}{l}" in latex
    page = table.to_html()
    assert "<table" in page and "p &lt; 0.05" in page
    assert table._repr_html_().count("<tr>") == page.count("<tr>")
    assert str(table).splitlines()[0].split() == ["a", "b|c"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"uncertainty": "sd"}, "uncertainty must be one of"),
    ({"names": ["one"]}, "names has 1 entries for 2 models"),
    ({"names": ["x", "x"]}, "names must be distinct"),
])
def test_bad_arguments(models, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model_table(models[:2], **kwargs)


def test_no_models():
    with pytest.raises(ValueError, match="at least one fitted model"):
        model_table([])


def test_exported_at_top_level():
    assert lmmpy.model_table is model_table
