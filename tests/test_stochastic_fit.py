"""lmer with LmerControl(factorization="stochastic") against the exact fit.

The stochastic fit minimises d_s(θ) = d(θ) + δ(θ): the exact deviance (or REML
criterion) d plus the error δ of its estimate of log|A| (the solves for β̂ and
the penalized RSS are exact to CG's tolerance 1e-10).  With |δ| ≤ K·SE at the
stochastic optimum θ_s and the exact one θ_e (SE the method's reported standard
error there; K = 4, the bound tests/objective/test_stochastic.py checks of the
estimator, asserted again here at these two θ's), and both optimizers at their
minimum to within ε:

* d(θ_s) − d(θ_e) ≤ |δ(θ_s)| + |δ(θ_e)| + ε: θ_s is as good an estimate as the
  exact deviance can tell apart from θ_e by K·(SE_s + SE_e) (d is ~quadratic
  in θ, so this bounds ½Δθ'HΔθ: the test of θ);
* |d_s(θ_s) − d(θ_e)| ≤ max(|δ(θ_s)|, |δ(θ_e)|) + ε: -2·logLik (ML) or the REML
  criterion within K·max(SE) (logLik within half of it);
* β̂ at θ_s is the exact β̂(θ_s), to the CG tolerance: 1e-7 relative.

ε = 1e-5 is BOBYQA's slack on the deviance (ftol_abs 1e-8 each step, a few
hundred steps), well below K·SE here (SE ≈ 0.1-0.4).
"""

import numpy as np
import pandas as pd
import pytest

import lmmpy

K = 4.0
SLACK = 1e-5
PENICILLIN = "diameter ~ 1 + (1 | plate) + (1 | sample)"
CROSSED = "y ~ x + (1 | user) + (1 | item)"
STOCHASTIC = lmmpy.LmerControl(factorization="stochastic")


def crossed_data(n: int = 2000, users: int = 200, items: int = 60, seed: int = 14) -> pd.DataFrame:
    """A ratings-like crossed design: each row a random (user, item) pair."""
    rng = np.random.default_rng(seed)
    user, item = rng.integers(users, size=n), rng.integers(items, size=n)
    x = rng.normal(size=n)
    y = (3 + 0.5 * x + 0.8 * rng.normal(size=users)[user] + 0.5 * rng.normal(size=items)[item]
         + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x, "user": [f"u{u}" for u in user],
                         "item": [f"i{i}" for i in item]})


@pytest.fixture(scope="module")
def penicillin():
    return lmmpy.datasets.load("Penicillin")


@pytest.fixture(scope="module")
def fits(penicillin):
    """(exact, stochastic) pairs: Penicillin by ML, the simulated crossed set by REML."""
    crossed = crossed_data()
    return {
        "penicillin-ml": [lmmpy.lmer(PENICILLIN, penicillin, reml=False, control=control)
                          for control in (None, STOCHASTIC)],
        "crossed-reml": [lmmpy.lmer(CROSSED, crossed, control=control)
                         for control in (None, STOCHASTIC)],
    }


def estimate_at(model, theta):
    """(the stochastic estimate of log|A| at θ, its standard error) on a copy of the objective."""
    objective = model.objective.with_crossprods(model.objective.crossprods)
    logdet, _ = objective.factor.update(np.asarray(theta, dtype=float))
    return logdet, objective.factor.standard_error


def exact_logdet(model, theta):
    Lambda = model.objective.layout.Lambda(theta)
    A = (Lambda.T @ model.objective.crossprods.ZtZ @ Lambda).toarray() + np.eye(Lambda.shape[0])
    return np.linalg.slogdet(A)[1]


@pytest.mark.parametrize("case", ["penicillin-ml", "crossed-reml"])
def test_the_stochastic_fit_agrees_with_the_exact_one(fits, case):
    exact, stochastic = fits[case]
    assert stochastic.objective.path == "stochastic"
    assert stochastic.optimization.optimizer == "bobyqa (NLopt)"
    theta_s, theta_e = stochastic.theta, exact.theta
    errors, ses = [], []
    for theta in (theta_s, theta_e):
        estimate, se = estimate_at(stochastic, theta)
        errors.append(abs(estimate - exact_logdet(stochastic, theta)))
        ses.append(se)
        assert errors[-1] <= K * se                    # the premise of the bounds
    assert stochastic.logdet_standard_error == pytest.approx(ses[0], rel=1e-12)
    d = exact.objective                                # the exact criterion, either θ
    gap = d(theta_s) - d(theta_e)
    assert -SLACK <= gap <= K * (ses[0] + ses[1]) + SLACK
    criterion_s = stochastic.optimization.objective
    assert abs(criterion_s - d(theta_e)) <= K * max(ses) + SLACK
    if not exact.reml:
        assert abs(stochastic.loglik - exact.loglik) <= K * max(ses) / 2 + SLACK
    at_theta_s = d.solve(theta_s)
    np.testing.assert_allclose(stochastic.fixef, at_theta_s.beta, rtol=1e-7, atol=1e-9)


def test_a_stochastic_fit_says_so(fits):
    exact, stochastic = fits["penicillin-ml"]
    assert exact.logdet_standard_error is None
    assert 0 < stochastic.logdet_standard_error < 1
    text = str(stochastic.summary())
    line = ("log|A| estimated by stochastic Lanczos quadrature: standard error "
            f"{stochastic.logdet_standard_error:.3g}")
    assert line in text.splitlines()[:4]
    assert "stochastic Lanczos" in stochastic.summary()._repr_html_()
    assert "stochastic" not in str(exact.summary())


REFIT = "refit exactly with control=lmmpy.LmerControl()"


@pytest.mark.parametrize("case, call, what", [
    ("penicillin-ml", lambda m: m.ranef_condsd, "A conditional variance"),
    ("crossed-reml", lambda m: m.predict(se_fit=True), "prediction's standard error"),
    ("crossed-reml", lambda m: m.coefs(), "Satterthwaite's method"),
    ("crossed-reml", lambda m: m.anova(), "Satterthwaite's method"),
    ("crossed-reml", lambda m: m.coefs(ddf="kenward-roger"), "Kenward-Roger's method"),
    ("penicillin-ml", lambda m: m.confint(), "The likelihood profile"),
    ("penicillin-ml", lambda m: m.profile(), "The likelihood profile"),
])
def test_what_needs_an_exact_factor_refuses_a_stochastic_fit(fits, case, call, what):
    exact, stochastic = fits[case]
    with pytest.raises(ValueError, match=what) as raised:
        call(stochastic)
    assert "factorization='stochastic'" in str(raised.value)
    assert REFIT in str(raised.value)
    call(exact)                                        # the exact fit has it


def test_what_needs_no_exact_factor_works(fits):
    _, stochastic = fits["crossed-reml"]
    table = stochastic.coefs(ddf="residual")
    np.testing.assert_allclose(table["estimate"], stochastic.fixef)
    np.testing.assert_allclose(table["std_error"], stochastic.fixef_se)
    wald = stochastic.confint(method="wald")
    assert wald.loc["x"].notna().all()
    assert stochastic.optimization.convergence_messages == ()


def test_glmer_rejects_the_stochastic_factorization():
    with pytest.raises(ValueError, match="factorization='stochastic' is for lmer only: PIRLS "
                                         "needs exact solves"):
        lmmpy.GlmerControl(factorization="stochastic")


@pytest.mark.parametrize("optimizer", ["newton", "bfgs"])
def test_the_stochastic_factorization_has_no_derivatives(optimizer):
    with pytest.raises(ValueError, match=f"optimizer='{optimizer}' needs derivatives, which "
                                         "factorization='stochastic' does not have"):
        lmmpy.LmerControl(optimizer=optimizer, factorization="stochastic")


def test_from_a_start_near_the_optimum_newton_on_differences_minimises_the_estimate():
    """A moment start (``em_steps=0``): projected Newton on the checks' finite differences,
    to a point at least as low as BOBYQA's from the same start, that passes the checks."""
    from lmmpy._moments import moment_theta
    from lmmpy.design import build_design
    from lmmpy.formula import parse_formula
    from lmmpy.objective import ProfiledDeviance, cross_products
    from lmmpy.optimize import optimize_theta

    design = build_design(parse_formula(CROSSED), crossed_data())
    start, lower = moment_theta(design), design.theta_lower_bounds()
    summaries = []
    for em_steps in (0, 3):   # 3: no moment start, BOBYQA
        f = ProfiledDeviance(cross_products(design), design.terms, False, _path="stochastic")
        summaries.append(optimize_theta(f, start, lower, em_steps=em_steps))
    newton, bobyqa = summaries
    assert newton.optimizer == "projected Newton (finite differences)"
    assert bobyqa.optimizer == "bobyqa (NLopt)"
    assert newton.converged, newton.convergence_messages
    assert newton.objective <= bobyqa.objective + 1e-6
    np.testing.assert_allclose(newton.theta, bobyqa.theta, atol=1e-3)
