"""Families and links against R's family objects (tools/reference/make_glmm_families.R)."""

import json
from pathlib import Path

import numpy as np
import pytest

from lmmpy._families import FAMILIES, Binomial, make_family

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "glmm" / "families.json").read_text())
CASES = {f"{case['family']}-{case['link']}": case for case in REFERENCE}


@pytest.mark.parametrize("name", sorted(CASES))
def test_family_matches_r(name):
    case = CASES[name]
    family = make_family(case["family"], case["link"])
    eta, mu, y, wt = (np.array(case[key], dtype=float) for key in ("eta", "mu", "y", "wt"))
    np.testing.assert_allclose(family.linkinv(eta), case["linkinv"], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(family.mu_eta(eta), case["mu_eta"], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(family.linkfun(mu), case["linkfun"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(family.variance(mu), case["variance"], rtol=1e-12)
    deviance = family.deviance_residuals(y, mu, wt)
    np.testing.assert_allclose(deviance, case["dev_resids"], rtol=1e-11, atol=1e-14)
    aic = family.aic(y, np.array(case["trials"], dtype=float), mu, wt, float(np.sum(deviance)))
    assert aic == pytest.approx(case["aic"], rel=1e-12)


def test_every_family_is_covered():
    assert {make_family(name).name for name in FAMILIES} == {c["family"] for c in REFERENCE}


@pytest.mark.parametrize(("family", "link", "message"), [
    ("binomial", "sqrt", "link 'sqrt' is not available for the binomial family"),
    ("poisson", "logit", "link 'logit' is not available for the poisson family"),
    ("negbin", None, "unknown family 'negbin'"),
    ("gaussian", None, "fit it with lmmpy.lmer"),
])
def test_bad_family_or_link(family, link, message):
    with pytest.raises(ValueError, match=message):
        make_family(family, link)


def test_family_object_and_class():
    assert make_family(Binomial("probit")) == Binomial("probit")
    assert make_family(Binomial, "cloglog").link.name == "cloglog"
    with pytest.raises(TypeError, match="family must be a name or a Family"):
        make_family(3)
