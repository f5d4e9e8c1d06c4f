"""Contrasts (lmerTest's ``contest``), the ddf choices, the summary table and bad input."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

import lmmpy
from lmmpy.inference import DDF_CHOICES


@functools.cache
def sleepstudy() -> lmmpy.LinearMixedModel:
    return lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))


@functools.cache
def cake() -> lmmpy.LinearMixedModel:
    return lmmpy.lmer("angle ~ recipe + temp + (1 | recipe:replicate)",
                      lmmpy.datasets.load("cake"))


@pytest.mark.parametrize("ddf", DDF_CHOICES)
def test_one_row_is_the_coefficient_t_test(ddf):
    m = sleepstudy()
    row = m.contrast([0.0, 1.0], ddf=ddf).iloc[0]
    assert row.to_dict() == pytest.approx(m.coefs(ddf, level=None).loc["Days"].to_dict())


def test_ddf_names_ignore_case_and_underscores():
    m = sleepstudy()
    assert m.coefs("Kenward_Roger").equals(m.coefs("kenward-roger"))


@pytest.mark.parametrize("bad", ["satterthwait", "KR", "lme4", ""])
def test_unknown_ddf_lists_the_choices(bad):
    with pytest.raises(ValueError, match=r"unknown ddf .*'satterthwaite', 'kenward-roger', "
                                         r"'residual', 'asymptotic'"):
        sleepstudy().coefs(bad)
    with pytest.raises(ValueError, match="unknown ddf"):
        sleepstudy().contrast([0, 1], ddf=bad)
    with pytest.raises(ValueError, match="unknown ddf"):
        sleepstudy().anova(ddf=bad)


@pytest.mark.parametrize("L", [[1.0, 0.0, 1.0], [[1.0], [0.0]], np.ones((2, 3)), [1.0]])
def test_contrast_of_the_wrong_width_names_both_widths(L):
    width = np.atleast_2d(np.asarray(L)).shape[-1]
    message = (fr"contrast has {width} columns but the model has 2 fixed-effect coefficients "
               r"\(\(Intercept\), Days\)")
    with pytest.raises(ValueError, match=message):
        sleepstudy().contrast(L)


def test_named_contrasts_align_on_coefficients():
    m = cake()
    by_name = m.contrast(pd.Series({"recipe[T.C]": 1.0, "recipe[T.B]": -1.0}, name="C - B"))
    by_position = m.contrast([0.0, -1.0, 1.0, 0.0])
    assert list(by_name.index) == ["C - B"]
    assert by_name.to_numpy() == pytest.approx(by_position.to_numpy())
    with pytest.raises(ValueError, match=r"unknown coefficients \['recipe\[T\.D\]'\]"):
        m.contrast(pd.Series({"recipe[T.D]": 1.0}))


def test_missing_entries_are_rejected():
    with pytest.raises(ValueError, match="missing or infinite"):
        sleepstudy().contrast([np.nan, 1.0])


def test_right_hand_side_shifts_the_test():
    m = sleepstudy()
    beta = m.fixef.to_numpy()
    t = m.contrast([0, 1], rhs=10.0).iloc[0]
    assert t.t_value == pytest.approx((beta[1] - 10) / m.fixef_se.iloc[1])
    joint = m.contrast(np.eye(2), ddf="residual", rhs=beta).iloc[0]
    assert joint.f_value == pytest.approx(0.0, abs=1e-12)
    assert joint.p_value == pytest.approx(1.0)


@pytest.mark.parametrize("ddf", ["residual", "asymptotic"])
def test_wald_f_is_the_quadratic_form(ddf):
    m = cake()
    L = np.array([[0, 1.0, 0, 0], [0, 0, 1.0, 0]])
    b = L @ m.fixef.to_numpy()
    wald = b @ np.linalg.solve(L @ m.vcov.to_numpy() @ L.T, b)
    row = m.contrast(L, ddf=ddf).iloc[0]
    assert row.f_value == pytest.approx(wald / 2)
    assert row.mean_sq == pytest.approx(wald / 2 * m.sigma**2)
    assert row.sum_sq == pytest.approx(wald * m.sigma**2)
    if ddf == "residual":
        assert row.den_df == m.nobs - 4
        assert row.p_value == pytest.approx(st.f.sf(wald / 2, 2, m.nobs - 4))
    else:
        assert np.isinf(row.den_df)
        assert row.p_value == pytest.approx(st.chi2.sf(wald, 2))


def test_rank_deficient_contrast_counts_independent_rows():
    m = cake()
    L = np.array([[0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 1.0, 1.0, 0]])
    assert m.contrast(L).iloc[0].num_df == 2
    assert m.contrast(L).iloc[0].f_value == pytest.approx(m.contrast(L[:2]).iloc[0].f_value)
    assert m.contrast(L, ddf="kenward-roger").iloc[0].num_df == 2


def test_one_degree_f_is_the_squared_t():
    m = cake()
    for ddf in DDF_CHOICES:
        t = m.contrast([0, 0, 0, 1.0], ddf=ddf).iloc[0]
        F = m.contrast(np.array([[0, 0, 0, 1.0], [0, 0, 0, 2.0]]), ddf=ddf).iloc[0]
        assert F.num_df == 1
        if ddf != "kenward-roger":  # Kenward-Roger scales F
            assert F.f_value == pytest.approx(t.t_value**2)
            assert F.den_df == pytest.approx(t.df)


def test_test_is_contrast():
    m = sleepstudy()
    assert m.test([0, 1]).equals(m.contrast([0, 1]))


def test_kenward_roger_needs_reml():
    m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"),
                   reml=False)
    with pytest.raises(ValueError, match="Kenward-Roger's method needs a REML fit"):
        m.coefs("kenward-roger")
    assert m.coefs("satterthwaite")["df"].iloc[1] == pytest.approx(18.0, rel=1e-2)


def test_kenward_roger_refuses_large_systems(monkeypatch):
    from lmmpy.inference import _kenward_roger

    monkeypatch.setattr(_kenward_roger, "MAX_SIZE", 30)
    with pytest.raises(ValueError, match=r"limited to 30 random effects .* 36 \+ 2"):
        lmmpy.lmer("Reaction ~ Days + (Days | Subject)",
                   lmmpy.datasets.load("sleepstudy")).coefs("kenward-roger")


def test_summary_shows_the_tests():
    text = str(sleepstudy().summary(ddf="satterthwaite"))
    assert "Fixed effects (tests use Satterthwaite's method):" in text
    assert "Pr(>|t|)" in text and " df " in text
    assert "17.00" in text
    z = str(sleepstudy().summary(ddf="asymptotic"))
    assert "Pr(>|z|)" in z and " df " not in z
    assert "Fixed effects:\n" in str(sleepstudy().summary())
